// Device helpers shared by the CUDA kernels: storage-type loads/stores (fp32 arithmetic on float
// or bf16 storage), warp and block sums, and a float atomic max.
#ifndef MNEME_KERNELS_CUDA_DEVICE_UTIL_CUH_
#define MNEME_KERNELS_CUDA_DEVICE_UTIL_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace mneme::kernels::cuda {

__device__ __forceinline__ float Load(const float* p) { return *p; }
__device__ __forceinline__ float Load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void Store(float* p, float v) { *p = v; }
__device__ __forceinline__ void Store(__nv_bfloat16* p, float v) { *p = __float2bfloat16(v); }

// Sum over the 32 lanes; every lane gets the result. REQUIRES: the whole warp calls it.
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block; every thread gets the result. REQUIRES: every thread of the block calls
// it, blockDim.x is a multiple of 32 and at most 1024. Contains __syncthreads.
__device__ __forceinline__ float BlockSum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = WarpSum(v);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0f;
  return WarpSum(v);
}

// *addr = max(*addr, v) for non-NaN floats, by their ordered integer images: non-negative floats
// order like signed ints, negative floats reverse-order like unsigned ints.
__device__ __forceinline__ void AtomicMaxFloat(float* addr, float v) {
  if (v >= 0.0f) {
    atomicMax(reinterpret_cast<int*>(addr), __float_as_int(v));
  } else {
    atomicMin(reinterpret_cast<unsigned int*>(addr), __float_as_uint(v));
  }
}

inline unsigned int GridFor(int64_t n, int block) {
  const int64_t g = (n + block - 1) / block;
  return static_cast<unsigned int>(g < 65535 * 32 ? g : 65535 * 32);
}

}  // namespace mneme::kernels::cuda

#endif  // MNEME_KERNELS_CUDA_DEVICE_UTIL_CUH_
