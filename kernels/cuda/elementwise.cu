// Kernels: RmsNorm (one block per row), Rope, SwiGlu and Embedding (grid-stride loops). Storage
// float or bf16, arithmetic fp32, the same formulas as kernels/cpu/cpu_backend.cc.
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kBlock = 256;

template <typename T>
__global__ void RmsNormKernel(const T* x, const T* w, T* y, int64_t dim, float eps) {
  const T* xr = x + blockIdx.x * dim;
  T* yr = y + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = Load(xr + i);
    ss += v * v;
  }
  // BlockSum synchronises, so every read of the row precedes every write (in place is safe).
  ss = BlockSum(ss);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) Store(yr + i, Load(w + i) * (Load(xr + i) * inv));
}

template <typename T>
__global__ void RopeKernel(T* x, const int32_t* positions, int64_t tokens, int64_t heads,
                           int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2, n = tokens * heads * half;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx % half, th = idx / half, t = th / heads;
    // inv_freq as HF computes it: fp32 of theta^(-2i/D), evaluated in double.
    const float inv_freq = static_cast<float>(1.0 / pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_dim)));
    const float a = static_cast<float>(positions[t]) * inv_freq;
    const float c = cosf(a), s = sinf(a);
    T* v = x + th * head_dim;
    const float lo = Load(v + i), hi = Load(v + i + half);
    Store(v + i, lo * c - hi * s);
    Store(v + i + half, hi * c + lo * s);
  }
}

template <typename T>
__global__ void SwiGluKernel(const T* gate_up, T* out, int64_t tokens, int64_t inter) {
  const int64_t n = tokens * inter;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = idx / inter, i = idx % inter;
    const float g = Load(gate_up + t * 2 * inter + i), u = Load(gate_up + t * 2 * inter + inter + i);
    Store(out + idx, g / (1.0f + expf(-g)) * u);
  }
}

template <typename T>
__global__ void EmbeddingKernel(const T* table, const int32_t* ids, T* out, int64_t tokens, int64_t dim) {
  const int64_t n = tokens * dim;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = idx / dim, j = idx % dim;
    out[idx] = table[static_cast<int64_t>(ids[t]) * dim + j];
  }
}

unsigned int Blocks(int64_t n) {
  const int64_t b = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned int>(b < (int64_t{1} << 20) ? (b > 0 ? b : 1) : (int64_t{1} << 20));
}

}  // namespace

template <typename T>
cudaError_t LaunchRmsNorm(const T* x, const T* w, T* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream) {
  RmsNormKernel<T><<<static_cast<unsigned int>(rows), kBlock, 0, stream>>>(x, w, y, dim, eps);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchRope(T* x, const int32_t* positions, int64_t tokens, int64_t heads,
                       int64_t head_dim, double theta, cudaStream_t stream) {
  RopeKernel<T><<<Blocks(tokens * heads * (head_dim / 2)), kBlock, 0, stream>>>(x, positions, tokens, heads, head_dim, theta);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchSwiGlu(const T* gate_up, T* out, int64_t tokens, int64_t inter, cudaStream_t stream) {
  SwiGluKernel<T><<<Blocks(tokens * inter), kBlock, 0, stream>>>(gate_up, out, tokens, inter);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchEmbedding(const T* table, const int32_t* ids, T* out, int64_t tokens, int64_t dim,
                            cudaStream_t stream) {
  EmbeddingKernel<T><<<Blocks(tokens * dim), kBlock, 0, stream>>>(table, ids, out, tokens, dim);
  return cudaGetLastError();
}

#define MNEME_INSTANTIATE(T)                                                                    \
  template cudaError_t LaunchRmsNorm<T>(const T*, const T*, T*, int64_t, int64_t, float,       \
                                        cudaStream_t);                                          \
  template cudaError_t LaunchRope<T>(T*, const int32_t*, int64_t, int64_t, int64_t, double,    \
                                     cudaStream_t);                                             \
  template cudaError_t LaunchSwiGlu<T>(const T*, T*, int64_t, int64_t, cudaStream_t);           \
  template cudaError_t LaunchEmbedding<T>(const T*, const int32_t*, T*, int64_t, int64_t,      \
                                          cudaStream_t);
MNEME_INSTANTIATE(float)
MNEME_INSTANTIATE(__nv_bfloat16)
#undef MNEME_INSTANTIATE

}  // namespace mneme::kernels::cuda
