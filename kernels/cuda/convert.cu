// Kernels: element-wise fills and conversions between fp32 and bf16 (grid-stride loops), and the
// dead-document mask of RouteTopK.
#include <cuda_bf16.h>

#include <cmath>

#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void FillKernel(float* x, int64_t n, float value) {  // grid-stride fill
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    x[i] = value;
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

}  // namespace mneme::kernels::cuda
