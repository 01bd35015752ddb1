// Kernel: RouteScoresKernel (after LaunchFill sets doc_scores to -inf), one warp per chunk: lanes split
// the key width, each query token's dot is a warp sum, the chunk keeps the max over tokens and
// folds it into its document's score with an atomic max. Nothing of size tokens x chunks is
// written. fp32 CUDA cores (the backend's fp32 interface); route_bf16.cu is the tensor-core scan
// over bf16 keys.
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace mneme::kernels::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void RouteScoresKernel(const float* q, const float* keys, const int32_t* chunk_doc,
                                  float* doc_scores, int64_t q_tokens, int64_t chunks, int64_t width) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  for (int64_t c = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32; c < chunks; c += warps) {
    const float* kc = keys + c * width;
    float best = -INFINITY;
    for (int64_t t = 0; t < q_tokens; ++t) {
      const float* qt = q + t * width;
      float dot = 0.0f;
      for (int64_t i = lane; i < width; i += 32) dot += qt[i] * kc[i];
      best = fmaxf(best, WarpSum(dot));
    }
    if (lane == 0) AtomicMaxFloat(doc_scores + chunk_doc[c], best);
  }
}

unsigned int Blocks(int64_t threads) {
  const int64_t b = (threads + kBlock - 1) / kBlock;
  return static_cast<unsigned int>(b < (int64_t{1} << 20) ? (b > 0 ? b : 1) : (int64_t{1} << 20));
}

}  // namespace

cudaError_t LaunchRouteScores(const float* q, const float* keys, const int32_t* chunk_doc,
                              float* doc_scores, int64_t q_tokens, int64_t chunks, int64_t width,
                              int64_t num_docs, cudaStream_t stream) {
  LaunchFill(doc_scores, num_docs, -INFINITY, stream);
  if (chunks > 0) {
    RouteScoresKernel<<<Blocks(chunks * 32), kBlock, 0, stream>>>(q, keys, chunk_doc, doc_scores,
                                                                  q_tokens, chunks, width);
  }
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
