// Kernel: SampleKernel, next-token choice (ops.h SampleParams) in one block of kThreads threads.
//   1. argmax with the tie rule (lowest id) and the NaN check, one strided pass;
//   2. p_i = exp((l_i - max) / T) into the workspace and its total;
//   3. the nucleus threshold tau by bisection on the bit pattern of positive floats (which order
//      like the integers): the largest tau whose mass(p >= tau) reaches top_p * total;
//   4. the pick: each thread owns a contiguous id range, an exclusive scan of the ranges' nucleus
//      masses gives each its starting running mass, and the thread whose range crosses
//      uniform * mass(N) walks it.
// Every reduction runs in a fixed order (strided per-thread sums, shuffle trees), so the result
// is deterministic run to run. Workspace: vocab floats.
#include <cfloat>
#include <climits>
#include <cmath>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// The better of two (value, id) candidates: larger value, then lower id.
__device__ __forceinline__ void Better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

// Mass of p >= tau over the block, in a fixed order.
__device__ float MassAtLeast(const float* p, int64_t vocab, float tau) {
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = p[i];
    if (v >= tau) s += v;
  }
  return BlockSum(s);
}

__global__ void __launch_bounds__(kThreads) SampleKernel(const float* logits, int64_t vocab, float temperature,
                                                         float top_p, float uniform, float* p, int* out) {
  __shared__ float s_v[kWarps];
  __shared__ int s_i[kWarps];
  __shared__ float s_scan[kWarps];
  __shared__ int s_token, s_last;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  // 1. argmax (strided: each thread sees increasing ids, so `>` keeps the lowest on ties).
  float best = -INFINITY;
  int best_i = INT_MAX;
  bool nan = false;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = logits[i];
    if (isnan(v)) {
      nan = true;
    } else {
      Better(best, best_i, v, static_cast<int>(i));
    }
  }
  const int any_nan = __syncthreads_or(nan);
  if (threadIdx.x == 0) out[1] = any_nan;
  if (any_nan) return;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Better(best, best_i, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, best_i, o));
  }
  if (lane == 0) {
    s_v[warp] = best;
    s_i[warp] = best_i;
  }
  __syncthreads();
  best = s_v[0];
  best_i = s_i[0];
  for (int w = 1; w < kWarps; ++w) Better(best, best_i, s_v[w], s_i[w]);
  if (temperature == 0.0f || !isfinite(best)) {
    if (threadIdx.x == 0) out[0] = best_i;
    return;
  }

  // 2. unnormalised probabilities.
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = expf((logits[i] - best) / temperature);
    p[i] = v;
    sum += v;
  }
  __syncthreads();  // p visible to every thread
  const float total = BlockSum(sum);

  // 3. tau. Invariant: mass(p >= float(lo)) >= target; p <= 1 = exp(0) so hi = bits(1.0f).
  float tau = 0.0f;
  if (top_p < 1.0f) {
    const float target = top_p * total;
    unsigned int lo = 0, hi = __float_as_uint(1.0f);
    while (lo < hi) {
      const unsigned int mid = lo + (hi - lo + 1) / 2;
      if (MassAtLeast(p, vocab, __uint_as_float(mid)) >= target) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    tau = __uint_as_float(lo);
  }

  // 4. pick.
  const int64_t seg = (vocab + kThreads - 1) / kThreads;
  const int64_t begin = min(vocab, threadIdx.x * seg), end = min(vocab, begin + seg);
  float mine = 0.0f;
  int last = -1;
  for (int64_t i = begin; i < end; ++i) {
    if (p[i] >= tau) {
      mine += p[i];
      last = static_cast<int>(i);
    }
  }
  // Inclusive scan within the warp, then across the warps' totals.
  float incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const float up = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += up;
  }
  if (threadIdx.x == 0) {
    s_token = INT_MAX;
    s_last = -1;
  }
  if (lane == 31) s_scan[warp] = incl;
  __syncthreads();
  float warp_base = 0.0f, mass = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) warp_base += s_scan[w];
    mass += s_scan[w];
  }
  const float target = uniform * mass;
  float run = warp_base + incl - mine;  // exclusive prefix
  if (last >= 0) {
    atomicMax(&s_last, last);
    for (int64_t i = begin; i < end; ++i) {
      if (p[i] < tau) continue;
      run += p[i];
      if (run > target) {
        atomicMin(&s_token, static_cast<int>(i));
        break;
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) out[0] = s_token != INT_MAX ? s_token : s_last;
}

}  // namespace

cudaError_t LaunchSample(const float* logits, int64_t vocab, float temperature, float top_p,
                         float uniform, float* workspace, int* out, cudaStream_t stream) {
  if (vocab <= 0 || vocab > INT_MAX) return cudaErrorInvalidValue;
  SampleKernel<<<1, kThreads, 0, stream>>>(logits, vocab, temperature, top_p, uniform, workspace, out);
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
