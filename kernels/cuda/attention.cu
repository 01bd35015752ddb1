// Kernel: AttentionKernel<kPer>, fp32 GQA attention with an online softmax.
//   grid: one block per (query token, head); block: kWarps warps.
//   Warp w walks the visible keys j = w, w + kWarps, ... keeping its own running max m, sum l
//   and output accumulator (lane holds head elements lane + 32e, e < kPer); the warps' partial
//   states are then merged through shared memory (the log-sum-exp combine of split-K decode).
// A correctness-first kernel: CUDA cores, no tensor cores, K/V re-read per query row. The
// tensor-core tiled kernel for document encoding is tracked in docs/perf.md.
#include <cfloat>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kWarps = 4;

template <int kPer>
__global__ void __launch_bounds__(kWarps * 32) AttentionKernel(AttentionArgs a) {
  __shared__ float s_m[kWarps], s_l[kWarps];
  __shared__ float s_acc[kWarps][kPer * 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t t = blockIdx.x / a.heads;
  const int h = static_cast<int>(blockIdx.x % a.heads);
  const int g = h / (a.heads / a.kv_heads), d = a.head_dim;
  const int64_t kv_stride = int64_t{a.kv_heads} * d;
  float q[kPer], acc[kPer];
#pragma unroll
  for (int e = 0; e < kPer; ++e) {
    const int i = lane + 32 * e;
    q[e] = i < d ? a.q[(t * a.heads + h) * d + i] : 0.0f;
    acc[e] = 0.0f;
  }
  const int64_t visible = a.causal ? a.q_offset + t + 1 : a.q_offset + a.q_tokens;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = warp; j < visible; j += kWarps) {
    const float* kj = a.k + j * kv_stride + int64_t{g} * d;
    const float* vj = a.v + j * kv_stride + int64_t{g} * d;
    float dot = 0.0f;
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      const int i = lane + 32 * e;
      if (i < d) dot += q[e] * kj[i];
    }
    const float s = a.scale * WarpSum(dot);
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 on the first key (m = -inf)
    const float p = expf(s - m_new);
    l = l * corr + p;
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      const int i = lane + 32 * e;
      acc[e] = acc[e] * corr + (i < d ? p * vj[i] : 0.0f);
    }
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < kPer; ++e) s_acc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  if (warp != 0) return;
  // Merge: a warp that saw no key has m = -inf and l = 0 and contributes nothing.
  float m_all = -INFINITY;
  for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, s_m[w]);
  float l_all = 0.0f, out[kPer] = {};
  for (int w = 0; w < kWarps; ++w) {
    if (s_l[w] == 0.0f) continue;
    const float f = expf(s_m[w] - m_all);
    l_all += s_l[w] * f;
#pragma unroll
    for (int e = 0; e < kPer; ++e) out[e] += s_acc[w][lane + 32 * e] * f;
  }
  const float inv = 1.0f / l_all;
#pragma unroll
  for (int e = 0; e < kPer; ++e) {
    const int i = lane + 32 * e;
    if (i < d) a.out[(t * a.heads + h) * d + i] = out[e] * inv;
  }
}

}  // namespace

cudaError_t LaunchAttention(const AttentionArgs& a, cudaStream_t stream) {
  const unsigned int blocks = static_cast<unsigned int>(a.q_tokens * a.heads);
  if (a.head_dim <= 32) {
    AttentionKernel<1><<<blocks, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 64) {
    AttentionKernel<2><<<blocks, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 128) {
    AttentionKernel<4><<<blocks, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 256) {
    AttentionKernel<8><<<blocks, kWarps * 32, 0, stream>>>(a);
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
