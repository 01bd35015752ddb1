// Kernels of the memory-compression ops: chunk mean pooling (with the optional per-head L2
// normalisation of cosine routing keys) and one-byte group (de)quantisation in the formats of
// common/quantize.h. Pooling sums each column in row order and quantisation uses IEEE division
// and round-to-nearest-even, exactly as the host reference does, so pooled means and codes are
// bit-identical to it (a NaN input aside: it becomes the NaN code 0x7F whatever its sign, where
// the host keeps the sign); only the L2 norm's sum of squares is reduced in a different order.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cmath>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kBlock = 256;

// grid (chunks, ceil(width / kBlock)): thread = one column of one chunk.
__global__ void ChunkMeanKernel(const float* x, float* out, int64_t rows, int64_t width, int64_t pool) {
  const int64_t c = blockIdx.x;
  const int64_t j = int64_t{blockIdx.y} * kBlock + threadIdx.x;
  if (j >= width) return;
  const int64_t begin = c * pool, end = min(rows, begin + pool);
  float sum = 0.0f;
  for (int64_t r = begin; r < end; ++r) sum = __fadd_rn(sum, x[r * width + j]);  // no FMA contraction
  out[c * width + j] = __fmul_rn(sum, __fdiv_rn(1.0f, static_cast<float>(end - begin)));
}

// One warp per head_dim slice, grid-stride over slices: x /= ||x|| (zero slices stay zero).
__global__ void L2NormalizeKernel(float* x, int64_t slices, int64_t dim) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * blockDim.x / 32;
  for (int64_t s = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32; s < slices; s += warps) {
    float* v = x + s * dim;
    float ss = 0.0f;
    for (int64_t j = lane; j < dim; j += 32) ss += v[j] * v[j];
    ss = WarpSum(ss);
    const float scale = ss > 0.0f ? 1.0f / sqrtf(ss) : 0.0f;
    for (int64_t j = lane; j < dim; j += 32) v[j] *= scale;
  }
}

__device__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// One warp per group.
__global__ void QuantizeKernel(const float* x, uint8_t* codes, float* scales, int64_t groups,
                               int64_t group, bool fp8) {
  const int64_t g = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (g >= groups) return;
  const float* v = x + g * group;
  uint8_t* c = codes + g * group;
  float amax = 0.0f;
  for (int64_t j = lane; j < group; j += 32) amax = fmaxf(amax, fabsf(v[j]));
  amax = WarpMax(amax);
  if (!fp8) {
    const float scale = __fdiv_rn(amax, 127.0f);
    for (int64_t j = lane; j < group; j += 32) {
      const float q = scale > 0.0f ? rintf(__fdiv_rn(v[j], scale)) : 0.0f;
      c[j] = static_cast<uint8_t>(static_cast<int8_t>(fmaxf(-127.0f, fminf(127.0f, q))));
    }
    if (lane == 0) scales[g] = scale;
    return;
  }
  float scale = __fdiv_rn(amax, 448.0f);
  if (!(scale > 0.0f)) scale = 1.0f;
  for (int64_t j = lane; j < group; j += 32) {
    c[j] = static_cast<uint8_t>(__nv_cvt_float_to_fp8(__fdiv_rn(v[j], scale), __NV_SATFINITE, __NV_E4M3));
  }
  if (lane == 0) scales[g] = scale;
}

__device__ __forceinline__ float Fp8ToFloat(uint8_t code) {
  const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), __NV_E4M3);
  return __half2float(__half(h));
}

// kind: 0 bf16, 1 int8, 2 fp8. Grid-stride over values.
__global__ void DequantizeKernel(const void* codes, const float* scales, float* out, int64_t n,
                                 int64_t group, int kind) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    if (kind == 0) {
      out[i] = __bfloat162float(static_cast<const __nv_bfloat16*>(codes)[i]);
    } else {
      const uint8_t c = static_cast<const uint8_t*>(codes)[i];
      const float v = kind == 1 ? static_cast<float>(static_cast<int8_t>(c)) : Fp8ToFloat(c);
      out[i] = __fmul_rn(scales[i / group], v);
    }
  }
}

unsigned int Blocks(int64_t threads) {
  const int64_t b = (threads + kBlock - 1) / kBlock;
  return static_cast<unsigned int>(b < (int64_t{1} << 20) ? (b > 0 ? b : 1) : (int64_t{1} << 20));
}

}  // namespace

cudaError_t LaunchChunkPool(const float* x, float* out, int64_t rows, int64_t width, int64_t pool,
                            int64_t l2_head_dim, cudaStream_t stream) {
  const int64_t chunks = (rows + pool - 1) / pool;
  if (chunks > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned int>(chunks), static_cast<unsigned int>((width + kBlock - 1) / kBlock));
  ChunkMeanKernel<<<grid, kBlock, 0, stream>>>(x, out, rows, width, pool);
  if (l2_head_dim > 0) {
    const int64_t slices = chunks * (width / l2_head_dim);
    L2NormalizeKernel<<<Blocks(slices * 32), kBlock, 0, stream>>>(out, slices, l2_head_dim);
  }
  return cudaGetLastError();
}

cudaError_t LaunchQuantize(const float* x, uint8_t* codes, float* scales, int64_t n, int64_t group,
                           bool fp8, cudaStream_t stream) {
  const int64_t groups = n / group;
  if (groups * 32 > (int64_t{1} << 20) * kBlock) return cudaErrorInvalidValue;
  QuantizeKernel<<<Blocks(groups * 32), kBlock, 0, stream>>>(x, codes, scales, groups, group, fp8);
  return cudaGetLastError();
}

cudaError_t LaunchDequantize(const void* codes, const float* scales, float* out, int64_t n,
                             int64_t group, int kind, cudaStream_t stream) {
  DequantizeKernel<<<Blocks(n), kBlock, 0, stream>>>(codes, scales, out, n, group, kind);
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
