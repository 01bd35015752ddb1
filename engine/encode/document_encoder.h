// MSA document encoding (docs/msa.md §1-2): one document at a time, alone, at positions 0..n-1,
// causal attention inside it, every layer; the routed layers' K (post-norm, post-RoPE), V and
// router key Kr are mean-pooled per chunk of `pooling` tokens (the ChunkPool op: fp32 per-chunk
// sums, the last chunk partial), Kr L2-normalised per head after pooling for cosine routing, all
// rounded to bf16. Because each document is encoded alone, its memory never depends on its
// neighbours.
//
// Everything up to the pooled chunks stays in backend memory: only [chunks, kv_width] per array
// and routed layer crosses to the host (1/pooling of the rows). The encoder keeps one KV area
// per layer and one router-key area per routed layer (msa checkpoints), grown to the longest
// document seen (never shrunk), and a layer workspace for `max_batch` tokens; longer documents
// run in batches. Not thread-safe.
#ifndef MNEME_ENGINE_ENCODE_DOCUMENT_ENCODER_H_
#define MNEME_ENGINE_ENCODE_DOCUMENT_ENCODER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/msa_settings.h"
#include "engine/model/qwen3_block.h"
#include "memory/memory_index.h"

namespace mneme::encode {

// Raw K/V of every layer for a short token sequence (the query template prefix).
struct RawKv {
  int64_t tokens = 0;
  std::vector<std::vector<float>> k, v;  // [layers][tokens * kv_width]
};

class DocumentEncoder {
 public:
  // REQUIRES: model and settings outlive the encoder.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DocumentEncoder>> Create(
      const model::Qwen3Model* model, const model::MsaSettings* settings, int64_t max_batch = 256);

  // Encodes one templated document. InvalidArgument for an empty sequence or bad ids; OutOfRange
  // beyond max_position_embeddings.
  [[nodiscard]] absl::StatusOr<memory::PooledDocument> Encode(absl::Span<const int32_t> tokens);

  // Runs `tokens` alone at positions 0.. and returns every layer's raw K/V.
  [[nodiscard]] absl::StatusOr<RawKv> EncodeRaw(absl::Span<const int32_t> tokens);

 private:
  DocumentEncoder(const model::Qwen3Model* model, const model::MsaSettings* settings)
      : model_(model), settings_(settings) {}
  // Runs all layers over `tokens`; calls `hook` at routed layers. Leaves K/V in kv_.
  absl::Status Run(absl::Span<const int32_t> tokens, const model::LayerHook& hook);
  absl::Status EnsureCapacity(int64_t tokens);

  const model::Qwen3Model* model_;
  const model::MsaSettings* settings_;
  std::unique_ptr<model::Qwen3Block> block_;
  int64_t capacity_ = 0;
  // Pools rows [0, n) of `rows` into doc-sized host array `out` (bf16-rounded).
  absl::Status PoolToHost(const float* rows, int64_t n, int64_t l2_head_dim, std::vector<float>* out);

  std::vector<std::unique_ptr<kernels::DeviceMemory>> k_, v_;  // per layer [capacity, kv_width]
  std::vector<std::unique_ptr<kernels::DeviceMemory>> kr_;     // per routed slot [capacity, kv_width]
  std::unique_ptr<kernels::DeviceMemory> x_, pooled_;          // pooled_: [capacity / pool, kv_width]
  std::vector<int32_t> positions_;
};

// Rounds every value to the nearest bf16 (what the memory stores).
void RoundToBf16(std::vector<float>* values);

}  // namespace mneme::encode

#endif  // MNEME_ENGINE_ENCODE_DOCUMENT_ENCODER_H_
