// Kernels: FillKernel (doc_scores = -inf) then RouteScoresKernel, one warp per chunk: lanes split
// the key width, each query token's dot is a warp sum, the chunk keeps the max over tokens and
// folds it into its document's score with an atomic max. Nothing of size tokens x chunks is
// written. fp32 CUDA cores (the backend's fp32 interface); route_bf16.cu is the tensor-core scan
// over bf16 keys.
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void FillKernel(float* x, int64_t n, float value) {  // grid-stride fill
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    x[i] = value;
  }
}

__global__ void RouteScoresKernel(const float* q, const float* keys, const int32_t* chunk_doc,
                                  float* doc_scores, int64_t q_tokens, int64_t chunks, int64_t width) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  for (int64_t c = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32; c < chunks; c += warps) {
    const float* kc = keys + c * width;
    float best = -INFINITY;
    for (int64_t t = 0; t < q_tokens; ++t) {
      const float* qt = q + t * width;
      float dot = 0.0f;
      for (int64_t i = lane; i < width; i += 32) dot += qt[i] * kc[i];
      best = fmaxf(best, WarpSum(dot));
    }
    if (lane == 0) AtomicMaxFloat(doc_scores + chunk_doc[c], best);
  }
}

__global__ void ToBf16Kernel(const float* x, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

__global__ void FromBf16Kernel(const __nv_bfloat16* x, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __bfloat162float(x[i]);
  }
}

__global__ void MaskDeadKernel(float* scores, const uint8_t* dead, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    if (dead[i] != 0) scores[i] = -INFINITY;
  }
}

unsigned int Blocks(int64_t threads) {
  const int64_t b = (threads + kBlock - 1) / kBlock;
  return static_cast<unsigned int>(b < (int64_t{1} << 20) ? (b > 0 ? b : 1) : (int64_t{1} << 20));
}

}  // namespace

cudaError_t LaunchFill(float* x, int64_t n, float value, cudaStream_t stream) {
  if (n > 0) FillKernel<<<Blocks(n), kBlock, 0, stream>>>(x, n, value);
  return cudaGetLastError();
}

cudaError_t LaunchToBf16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream) {
  if (n > 0) ToBf16Kernel<<<Blocks(n), kBlock, 0, stream>>>(x, reinterpret_cast<__nv_bfloat16*>(out), n);
  return cudaGetLastError();
}

cudaError_t LaunchFromBf16(const uint16_t* x, float* out, int64_t n, cudaStream_t stream) {
  if (n > 0) FromBf16Kernel<<<Blocks(n), kBlock, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(x), out, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaskDead(float* scores, const uint8_t* dead, int64_t n, cudaStream_t stream) {
  if (n > 0) MaskDeadKernel<<<Blocks(n), kBlock, 0, stream>>>(scores, dead, n);
  return cudaGetLastError();
}

cudaError_t LaunchRouteScores(const float* q, const float* keys, const int32_t* chunk_doc,
                              float* doc_scores, int64_t q_tokens, int64_t chunks, int64_t width,
                              int64_t num_docs, cudaStream_t stream) {
  LaunchFill(doc_scores, num_docs, -INFINITY, stream);
  if (chunks > 0) {
    RouteScoresKernel<<<Blocks(chunks * 32), kBlock, 0, stream>>>(q, keys, chunk_doc, doc_scores,
                                                                  q_tokens, chunks, width);
  }
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
