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

  // Encodes several templated documents, each still alone at positions 0.. and attending only to
  // itself, but consecutive ones packed into forwards of up to max_batch tokens (one GEMM over
  // all their rows, the attention kept per document): the same memory Encode gives each, up to
  // floating-point summation order. Errors as Encode, for the first bad document.
  [[nodiscard]] absl::StatusOr<std::vector<memory::PooledDocument>> EncodeBatch(
      absl::Span<const std::vector<int32_t>> docs);

  // Runs `tokens` alone at positions 0.. and returns every layer's raw K/V.
  [[nodiscard]] absl::StatusOr<RawKv> EncodeRaw(absl::Span<const int32_t> tokens);

 private:
  DocumentEncoder(const model::Qwen3Model* model, const model::MsaSettings* settings)
      : model_(model), settings_(settings) {}
  absl::Status CheckLength(int64_t n) const;
  // Runs all layers over `tokens` (in batches of max_batch); calls `hook` at routed layers.
  // Leaves K/V (and router keys) in rows [0, n) of k_, v_ (kr_).
  absl::Status Run(absl::Span<const int32_t> tokens, const model::LayerHook& hook);
  // One forward over `docs` packed (total <= max_batch), leaving their rows one after another.
  absl::Status RunPacked(absl::Span<const std::vector<int32_t>> docs, const model::LayerHook& hook);
  // The router-key projection hook (msa checkpoints; empty for training-free routing).
  model::LayerHook RouterKeyHook();
  // Pools the rows a Run/RunPacked left for `docs` into out (bf16-rounded host arrays).
  absl::Status PoolGroup(absl::Span<const std::vector<int32_t>> docs, absl::Span<memory::PooledDocument> out);
  absl::Status EnsureCapacity(int64_t tokens);

  const model::Qwen3Model* model_;
  const model::MsaSettings* settings_;
  std::unique_ptr<model::Qwen3Block> block_;
  int64_t capacity_ = 0;
  std::vector<std::unique_ptr<kernels::DeviceMemory>> k_, v_;  // per layer [capacity, kv_width]
  std::vector<std::unique_ptr<kernels::DeviceMemory>> kr_;     // per routed slot [capacity, kv_width]
  std::unique_ptr<kernels::DeviceMemory> x_, pooled_;          // pooled_: PoolGroup's output
  std::vector<int32_t> positions_, ids_, starts_;              // one forward's (host)
  std::vector<float> pooled_host_;
};

// Rounds every value to the nearest bf16 (what the memory stores).
void RoundToBf16(std::vector<float>* values);

}  // namespace mneme::encode

#endif  // MNEME_ENGINE_ENCODE_DOCUMENT_ENCODER_H_
