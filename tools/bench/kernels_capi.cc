// A C ABI over the bf16 tensor-core kernels (routing scan, top-k, varlen attention), loaded by
// tools/bench/*_bench.py through ctypes so the kernels and their PyTorch peers run in one process on the very same device tensors. Pointers
// are device pointers; `stream` is a cudaStream_t (PyTorch's current stream). Each function
// returns a cudaError_t as int (0 = success).
#include <cuda_runtime_api.h>

#include "kernels/cuda/launch.h"

namespace cuda = mneme::kernels::cuda;

extern "C" {

int mneme_num_sms() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return -1;
  return sms;
}

int mneme_route_bf16(const void* q, const void* keys, const int32_t* chunk_doc, float* doc_scores,
                     int q_tokens, int64_t chunks, int width, int64_t num_docs, int num_sms,
                     void* stream) {
  return static_cast<int>(cuda::LaunchRouteBf16(q, keys, chunk_doc, doc_scores, q_tokens, chunks,
                                                width, num_docs, num_sms,
                                                static_cast<cudaStream_t>(stream)));
}

size_t mneme_topk_workspace_bytes(int64_t n, int k) { return cuda::TopKWorkspaceBytes(n, k); }

int mneme_topk(const float* scores, int64_t n, int k, float* out_scores, int32_t* out_idx,
               void* workspace, void* stream) {
  return static_cast<int>(cuda::LaunchTopK(scores, n, k, out_scores, out_idx, workspace,
                                           static_cast<cudaStream_t>(stream)));
}

// tiles_host: 2 ints per tile, or null to count. Returns the tile count.
int mneme_varlen_tiles(const int32_t* cu_seqlens_host, int docs, int32_t* tiles_host) {
  return cuda::BuildVarlenTiles(cu_seqlens_host, docs, tiles_host);
}

int mneme_varlen_attention(const void* q, const void* k, const void* v, void* out,
                           const int32_t* cu_seqlens, const int32_t* tiles, int num_tiles,
                           int heads, int kv_heads, int head_dim, float scale, void* stream) {
  return static_cast<int>(cuda::LaunchVarlenAttention(q, k, v, out, cu_seqlens, tiles, num_tiles,
                                                      heads, kv_heads, head_dim, scale,
                                                      static_cast<cudaStream_t>(stream)));
}

// y[m, n] (+)= bf16(x[m, :]) . w[n, :]: the decode GEMV (gemv_bf16.cu), fp32 x/y, bf16 w.
int mneme_gemv_bf16(const float* x, const void* w, float* y, int64_t m, int64_t n, int64_t k, int accumulate,
                    void* stream) {
  return static_cast<int>(cuda::LaunchGemvBf16(x, static_cast<const uint16_t*>(w), y, m, n, k, n, accumulate != 0,
                                               static_cast<cudaStream_t>(stream)));
}

}  // extern "C"
