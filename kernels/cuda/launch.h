// Kernel launchers of the CUDA backend. Plain C++ types only (no absl in .cu translation units):
// the backend (cuda_backend.cc) validates Params, then calls these with device pointers on its
// stream. Each returns the launch's cudaError_t (cudaGetLastError after the launch).
//
// Storage type T is float or __nv_bfloat16 where a launcher is a template; arithmetic is fp32.
#ifndef MNEME_KERNELS_CUDA_LAUNCH_H_
#define MNEME_KERNELS_CUDA_LAUNCH_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace mneme::kernels::cuda {

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w; x == y allowed.
template <typename T>
cudaError_t LaunchRmsNorm(const T* x, const T* w, T* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream);

// Rotate-half RoPE in place; positions [tokens] in device memory.
template <typename T>
cudaError_t LaunchRope(T* x, const int32_t* positions, int64_t tokens, int64_t heads,
                       int64_t head_dim, double theta, cudaStream_t stream);

// out[t, i] = silu(gu[t, i]) * gu[t, inter + i].
template <typename T>
cudaError_t LaunchSwiGlu(const T* gate_up, T* out, int64_t tokens, int64_t inter,
                         cudaStream_t stream);

// out[t, :] = table[ids[t], :]; ids [tokens] in device memory, already range-checked.
template <typename T>
cudaError_t LaunchEmbedding(const T* table, const int32_t* ids, T* out, int64_t tokens,
                            int64_t dim, cudaStream_t stream);

struct AttentionArgs {
  const float* q;  // [q_tokens, heads, head_dim]
  const float* k;  // [kv_len, kv_heads, head_dim]
  const float* v;  // [kv_len, kv_heads, head_dim]
  float* out;      // [q_tokens, heads, head_dim]
  int64_t q_tokens, kv_len, q_offset;
  int heads, kv_heads, head_dim;  // head_dim <= 256
  float scale;
  bool causal;
  float* lse;  // [q_tokens, heads] or null
  // Split-K: `splits` blocks per (token, head), split s taking visible keys
  // [s * split_len, (s + 1) * split_len); splits * split_len >= kv_len. With splits > 1,
  // part_out [splits, q_tokens, heads, head_dim] and part_lse [splits, q_tokens, heads] hold the
  // partials before the merge.
  int splits;
  int64_t split_len;
  float* part_out;
  float* part_lse;
};
// ops.h AttentionParams semantics (GQA, causal bottom-right or block-bidirectional).
cudaError_t LaunchAttention(const AttentionArgs& a, cudaStream_t stream);
// ops.h AttentionMergeParams semantics.
cudaError_t LaunchAttentionMerge(const float* outs, const float* lses, float* out, float* lse,
                                 int64_t parts, int64_t rows, int64_t head_dim, cudaStream_t stream);

// Memory compression (compress.cu), ops.h ChunkPool / Quantize / Dequantize semantics.
cudaError_t LaunchChunkPool(const float* x, float* out, int64_t rows, int64_t width, int64_t pool,
                            int64_t l2_head_dim, cudaStream_t stream);
cudaError_t LaunchQuantize(const float* x, uint8_t* codes, float* scales, int64_t n, int64_t group,
                           bool fp8, cudaStream_t stream);
// kind: 0 bf16 bit patterns (scales unused), 1 int8, 2 fp8 e4m3.
cudaError_t LaunchDequantize(const void* codes, const float* scales, float* out, int64_t n,
                             int64_t group, int kind, cudaStream_t stream);

// Decode GEMV (gemv_bf16.cu): y[m, n] (+)= bf16(x[m, :]) · w[n, :], fp32 x and y, bf16 w [n, k],
// for up to kMaxGemvRows rows. GemvBf16Supports: the shapes and alignments it takes (k % 8 == 0,
// x and w 16-byte aligned); otherwise cudaErrorInvalidValue.
inline constexpr int64_t kMaxGemvRows = 8;
bool GemvBf16Supports(int64_t m, int64_t k, const void* x, const void* w);
cudaError_t LaunchGemvBf16(const float* x, const uint16_t* w, float* y, int64_t m, int64_t n, int64_t k,
                           int64_t ldy, bool accumulate, cudaStream_t stream);

// ops.h Sample semantics (sample.cu) in one block: out[0] = token, out[1] = 1 when a logit is
// NaN (then out[0] is unset). workspace: vocab floats of device memory.
cudaError_t LaunchSample(const float* logits, int64_t vocab, float temperature, float top_p,
                         float uniform, float* workspace, int* out, cudaStream_t stream);

// doc_scores[d] = max over t and chunks c of document d of q[t, :] · keys[c, :]; -inf for a
// document without chunks. All arrays in device memory.
cudaError_t LaunchRouteScores(const float* q, const float* keys, const int32_t* chunk_doc,
                              float* doc_scores, int64_t q_tokens, int64_t chunks, int64_t width,
                              int64_t num_docs, cudaStream_t stream);

// Element-wise (convert.cu). x[0, n) = value.
cudaError_t LaunchFill(float* x, int64_t n, float value, cudaStream_t stream);
// out[i] = bf16(x[i]) (round to nearest even), out as bf16 bit patterns.
cudaError_t LaunchToBf16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream);
// out[i] = float(x[i]) for bf16 bit patterns x.
cudaError_t LaunchFromBf16(const uint16_t* x, float* out, int64_t n, cudaStream_t stream);
// scores[d] = -inf where dead[d] != 0.
cudaError_t LaunchMaskDead(float* scores, const uint8_t* dead, int64_t n, cudaStream_t stream);

// The fused routing scan over bf16 keys (route_bf16.cu): q [q_tokens, width] and keys
// [chunks, width] are bf16, doc_scores [num_docs] fp32 is filled with -inf, then gets the max over
// tokens and each document's chunks of the fp32-accumulated dot. Persistent grid of `num_sms`
// CTAs using RouteBf16SharedBytes(width) of dynamic shared memory. With init = false the scores
// are not reset first, so passes over 64-token blocks of a longer question accumulate the max.
// cudaErrorInvalidValue unless 1 <= q_tokens <= 64 and width is a multiple of 64 in [64, 1024].
size_t RouteBf16SharedBytes(int width);
cudaError_t LaunchRouteBf16(const void* q, const void* keys, const int32_t* chunk_doc,
                            float* doc_scores, int q_tokens, int64_t chunks, int width,
                            int64_t num_docs, int num_sms, cudaStream_t stream, bool init = true);

// The best k of scores[0, n) (topk.cu): out_scores/out_idx [k], higher score first, ties to the lower
// index, NaN as -inf; when n < k the tail is (-inf, INT32_MAX). `workspace` holds
// TopKWorkspaceBytes(n, k) bytes of device memory. cudaErrorInvalidValue unless 1 <= k <= 1024.
size_t TopKWorkspaceBytes(int64_t n, int k);
cudaError_t LaunchTopK(const float* scores, int64_t n, int k, float* out_scores, int32_t* out_idx,
                       void* workspace, cudaStream_t stream);

// Causal attention inside each of `docs` packed documents (attention_varlen.cu): q/out
// [tokens, heads, 128] and k/v [tokens, kv_heads, 128] bf16, document d owning rows
// [cu_seqlens[d], cu_seqlens[d+1]) and attending only to itself, GQA group heads/kv_heads.
// `tiles` [num_tiles x (doc, first row)] comes from BuildVarlenTiles (device copy).
// BuildVarlenTiles writes the table into tiles_host (2 ints per tile; null: count only) and
// returns the tile count. cudaErrorInvalidValue unless head_dim == 128 and kv_heads divides heads.
int BuildVarlenTiles(const int32_t* cu_seqlens_host, int docs, int32_t* tiles_host);
cudaError_t LaunchVarlenAttention(const void* q, const void* k, const void* v, void* out,
                                  const int32_t* cu_seqlens, const int32_t* tiles, int num_tiles,
                                  int heads, int kv_heads, int head_dim, float scale,
                                  cudaStream_t stream);

}  // namespace mneme::kernels::cuda

#endif  // MNEME_KERNELS_CUDA_LAUNCH_H_
