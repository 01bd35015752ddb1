// Kernel: TopKKernel, the best k of a score array, two-phase bitonic. Each pass sorts
// 4096-element segments in shared memory (1024 threads) and keeps each segment's best k; passes
// repeat until one segment remains. Order: higher score first, ties to the lower index; NaN
// counts as -inf.
#include <climits>
#include <cmath>

#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kSortN = 4096, kSortThreads = 1024;

struct Cand {
  float s;
  int32_t i;
};
__device__ __forceinline__ bool Before(const Cand& a, const Cand& b) {
  return a.s > b.s || (a.s == b.s && a.i < b.i);
}

// Sorts up to kSortN candidates of segment blockIdx.x (best first) and writes the best k.
// Input: either raw scores (idx_in == nullptr: index = position) or candidate pairs.
__global__ void __launch_bounds__(kSortThreads)
    TopKKernel(const float* __restrict__ s_in, const int32_t* __restrict__ idx_in, int64_t n, int k,
               float* __restrict__ s_out, int32_t* __restrict__ idx_out) {
  __shared__ Cand buf[kSortN];
  const int64_t base = int64_t{blockIdx.x} * kSortN;
  for (int e = threadIdx.x; e < kSortN; e += kSortThreads) {
    const int64_t g = base + e;
    Cand c{-INFINITY, INT_MAX};
    if (g < n) {
      const float s = s_in[g];
      c.s = isnan(s) ? -INFINITY : s;
      c.i = idx_in ? idx_in[g] : static_cast<int32_t>(g);
    }
    buf[e] = c;
  }
  for (int size = 2; size <= kSortN; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int p = threadIdx.x; p < kSortN / 2; p += kSortThreads) {
        const int lo = 2 * p - (p & (stride - 1)), hi = lo + stride;
        const bool best_first = (lo & size) == 0;
        const Cand a = buf[lo], b = buf[hi];
        if (Before(b, a) == best_first) {
          buf[lo] = b;
          buf[hi] = a;
        }
      }
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < k; e += kSortThreads) {
    s_out[int64_t{blockIdx.x} * k + e] = buf[e].s;
    idx_out[int64_t{blockIdx.x} * k + e] = buf[e].i;
  }
}

}  // namespace

size_t TopKWorkspaceBytes(int64_t n, int k) {
  const int64_t segs = (n + kSortN - 1) / kSortN;
  return static_cast<size_t>(2 * segs * k) * (sizeof(float) + sizeof(int32_t));
}

cudaError_t LaunchTopK(const float* scores, int64_t n, int k, float* out_scores, int32_t* out_idx,
                       void* workspace, cudaStream_t stream) {
  if (k < 1 || k > kSortN / 4 || n < 1) return cudaErrorInvalidValue;
  const int64_t segs0 = (n + kSortN - 1) / kSortN;
  float* ws_s[2] = {static_cast<float*>(workspace), static_cast<float*>(workspace) + segs0 * k};
  int32_t* ws_i[2] = {reinterpret_cast<int32_t*>(ws_s[1] + segs0 * k), nullptr};
  ws_i[1] = ws_i[0] + segs0 * k;
  const float* in_s = scores;
  const int32_t* in_i = nullptr;
  int64_t len = n;
  for (int pass = 0;; ++pass) {
    const int64_t segs = (len + kSortN - 1) / kSortN;
    float* o_s = segs == 1 ? out_scores : ws_s[pass % 2];
    int32_t* o_i = segs == 1 ? out_idx : ws_i[pass % 2];
    TopKKernel<<<static_cast<unsigned int>(segs), kSortThreads, 0, stream>>>(in_s, in_i, len, k, o_s, o_i);
    if (segs == 1) break;
    in_s = o_s;
    in_i = o_i;
    len = segs * k;
  }
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
