// Kernels: AttentionKernel<kPer>, fp32 GQA attention with an online softmax, and MergeKernel,
// the exact log-sum-exp merge of partial attentions (split-K decode, ops.h AttentionMerge).
//   grid: (query token x head, split); block: kWarps warps. Split s owns visible keys
//   [s * split_len, (s + 1) * split_len); with one split the block writes the output (and the
//   row's log-sum-exp when asked), with several it writes a normalised partial and its lse,
//   which MergeKernel combines (split-K for decode, where tokens x heads alone cannot fill the
//   GPU).
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
  const int64_t j_begin = blockIdx.y * a.split_len;
  const int64_t j_end = min(visible, j_begin + a.split_len);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = j_begin + warp; j < j_end; j += kWarps) {
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
  const int64_t row = t * a.heads + h;
  const bool partial = gridDim.y > 1;
  float* dst = partial ? a.part_out + (int64_t{blockIdx.y} * a.q_tokens * a.heads + row) * d : a.out + row * d;
  const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;  // an empty split writes zeros, lse -inf
#pragma unroll
  for (int e = 0; e < kPer; ++e) {
    const int i = lane + 32 * e;
    if (i < d) dst[i] = out[e] * inv;
  }
  if (lane == 0) {
    const float lse = l_all > 0.0f ? m_all + logf(l_all) : -INFINITY;
    if (partial) {
      a.part_lse[int64_t{blockIdx.y} * a.q_tokens * a.heads + row] = lse;
    } else if (a.lse) {
      a.lse[row] = lse;
    }
  }
}

// One block per row (grid-stride): out[r] = sum_p exp(lse_p - L) out_p[r], L = log sum exp lse_p.
__global__ void MergeKernel(const float* outs, const float* lses, float* out, float* lse,
                            int64_t parts, int64_t rows, int64_t d) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float m = -INFINITY;
    for (int64_t s = 0; s < parts; ++s) m = fmaxf(m, lses[s * rows + r]);
    float total = 0.0f;
    if (m != -INFINITY) {
      for (int64_t s = 0; s < parts; ++s) {
        const float l = lses[s * rows + r];
        if (l != -INFINITY) total += expf(l - m);
      }
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      float acc = 0.0f;
      if (m != -INFINITY) {
        for (int64_t s = 0; s < parts; ++s) {
          const float l = lses[s * rows + r];
          if (l != -INFINITY) acc += expf(l - m) * outs[(s * rows + r) * d + j];
        }
      }
      out[r * d + j] = acc * inv;
    }
    if (lse && threadIdx.x == 0) lse[r] = m == -INFINITY ? -INFINITY : m + logf(total);
  }
}

}  // namespace

cudaError_t LaunchAttention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.splits < 1 || a.splits > 65535 || (a.splits > 1 && (!a.part_out || !a.part_lse))) {
    return cudaErrorInvalidValue;
  }
  if (int64_t{a.splits} * a.split_len < a.kv_len) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned int>(a.q_tokens * a.heads), static_cast<unsigned int>(a.splits));
  if (a.head_dim <= 32) {
    AttentionKernel<1><<<grid, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 64) {
    AttentionKernel<2><<<grid, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 128) {
    AttentionKernel<4><<<grid, kWarps * 32, 0, stream>>>(a);
  } else if (a.head_dim <= 256) {
    AttentionKernel<8><<<grid, kWarps * 32, 0, stream>>>(a);
  } else {
    return cudaErrorInvalidValue;
  }
  if (a.splits == 1) return cudaGetLastError();
  return LaunchAttentionMerge(a.part_out, a.part_lse, a.out, a.lse, a.splits, a.q_tokens * a.heads,
                              a.head_dim, stream);
}

cudaError_t LaunchAttentionMerge(const float* outs, const float* lses, float* out, float* lse,
                                 int64_t parts, int64_t rows, int64_t head_dim, cudaStream_t stream) {
  const int threads = head_dim >= 128 ? 128 : 32 * static_cast<int>((head_dim + 31) / 32);
  const unsigned int blocks = static_cast<unsigned int>(rows < 65535 * 16 ? rows : 65535 * 16);
  MergeKernel<<<blocks, threads, 0, stream>>>(outs, lses, out, lse, parts, rows, head_dim);
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
