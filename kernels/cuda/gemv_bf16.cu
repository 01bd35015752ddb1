// Kernel: GemvBf16Kernel<M>, y[m, n] (+)= bf16(x[m, :]) · w[n, :] for M <= 8 rows of fp32 x and
// bf16 weights w [n, k] (decode: the whole step is weight-bandwidth bound, and a GEMM library's
// small-m path both reads w below bandwidth and needs x converted to bf16 by a separate launch).
//   grid: ceil(n / kWarps) blocks of kWarps warps; warp = one output row j of w.
//   Lane l reads w[j, 8 * (l + 32 i) .. +8) as one 16-byte load (k % 8 == 0, w 16-byte aligned)
//   and the matching x values (rounded to bf16 in registers, as MatMulParams promises), keeping
//   M fp32 partial sums; a shuffle reduction then gives each row's dot product. Each weight
//   byte is read once for all M rows.
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ float RoundBf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

template <int M>
__global__ void __launch_bounds__(kWarps * 32) GemvBf16Kernel(const float* __restrict__ x, const uint16_t* __restrict__ w,
                                                               float* y, int64_t n, int64_t k, int64_t ldy,
                                                               bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int64_t j = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  if (j >= n) return;
  const uint4* row = reinterpret_cast<const uint4*>(w + j * k);
  float acc[M];
#pragma unroll
  for (int r = 0; r < M; ++r) acc[r] = 0.0f;
  const int64_t vecs = k / 8;
  // acc[r] += bf16(x[r, 8v .. 8v+8)) · w[j, 8v .. 8v+8)
  auto fma8 = [&](const uint4& packed, int64_t v) {
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&packed);
    float wf[8];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 f = __bfloat1622float2(h[e]);
      wf[2 * e] = f.x;
      wf[2 * e + 1] = f.y;
    }
#pragma unroll
    for (int r = 0; r < M; ++r) {
      const float4* xr = reinterpret_cast<const float4*>(x + r * k + 8 * v);
      const float4 a = xr[0], b = xr[1];
      acc[r] += RoundBf16(a.x) * wf[0] + RoundBf16(a.y) * wf[1] + RoundBf16(a.z) * wf[2] + RoundBf16(a.w) * wf[3] +
                RoundBf16(b.x) * wf[4] + RoundBf16(b.y) * wf[5] + RoundBf16(b.z) * wf[6] + RoundBf16(b.w) * wf[7];
    }
  };
  // kUnroll independent 16-byte loads in flight per lane before any is used: a warp alone must
  // keep enough bytes moving, since small projections give each SM only a few warps.
  constexpr int kUnroll = 4;
  int64_t i = lane;
  for (; i + 32 * (kUnroll - 1) < vecs; i += 32 * kUnroll) {
    uint4 packed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) packed[u] = __ldg(row + i + 32 * u);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) fma8(packed[u], i + 32 * u);
  }
  for (; i < vecs; i += 32) fma8(__ldg(row + i), i);
#pragma unroll
  for (int r = 0; r < M; ++r) {
    const float s = WarpSum(acc[r]);
    if (lane == 0) {
      float* out = y + r * ldy + j;
      *out = accumulate ? *out + s : s;
    }
  }
}

template <int M>
void Launch(const float* x, const uint16_t* w, float* y, int64_t n, int64_t k, int64_t ldy, bool accumulate,
            cudaStream_t stream) {
  const unsigned int blocks = static_cast<unsigned int>((n + kWarps - 1) / kWarps);
  GemvBf16Kernel<M><<<blocks, kWarps * 32, 0, stream>>>(x, w, y, n, k, ldy, accumulate);
}

}  // namespace

bool GemvBf16Supports(int64_t m, int64_t k, const void* x, const void* w) {
  return m >= 1 && m <= kMaxGemvRows && k % 8 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

cudaError_t LaunchGemvBf16(const float* x, const uint16_t* w, float* y, int64_t m, int64_t n, int64_t k,
                           int64_t ldy, bool accumulate, cudaStream_t stream) {
  if (!GemvBf16Supports(m, k, x, w) || n > int64_t{kWarps} * 0x7fffffff) return cudaErrorInvalidValue;
  switch (m) {
    case 1: Launch<1>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 2: Launch<2>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 3: Launch<3>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 4: Launch<4>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 5: Launch<5>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 6: Launch<6>(x, w, y, n, k, ldy, accumulate, stream); break;
    case 7: Launch<7>(x, w, y, n, k, ldy, accumulate, stream); break;
    default: Launch<8>(x, w, y, n, k, ldy, accumulate, stream); break;
  }
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
