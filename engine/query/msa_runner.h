// MSA query execution for one sequence (docs/msa.md §3): a prefill that routes at every routed
// layer and lays out each layer's KV as [template | pooled chunks of the selected documents |
// query tokens], then decoding with the selection fixed.
//
// KV areas are per layer, reused across queries and grown only when a query needs more rows
// (capacity = template + the largest possible selection + the context budget): nothing is
// allocated per token. Not thread-safe; the index and template must not change during a query.
#ifndef MNEME_ENGINE_QUERY_MSA_RUNNER_H_
#define MNEME_ENGINE_QUERY_MSA_RUNNER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/encode/document_encoder.h"
#include "engine/model/msa_settings.h"
#include "engine/model/qwen3_block.h"
#include "engine/query/routed_memory.h"
#include "engine/query/router.h"
#include "memory/memory_index.h"

namespace mneme::query {

struct LayerRouting {
  int layer;
  std::vector<ScoredDoc> docs;  // descending score
};

class MsaRunner {
 public:
  // REQUIRES: every pointer outlives the runner. The runner routes over a LocalMemory of `index`
  // (content_cache_bytes > 0 keeps that much backend memory as a cache of routed documents'
  // content, engine/query/content_cache.h; 0 copies the selected rows from the index at every
  // routed layer, what host-addressable backends want) unless set_memory() names another.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MsaRunner>> Create(
      const model::Qwen3Model* model, const model::MsaSettings* settings,
      const encode::RawKv* template_kv, const memory::MemoryIndex* index,
      size_t content_cache_bytes = 0);

  // Starts a new sequence: runs `ids` at positions first_position, first_position+1, ...; every
  // routed layer routes with the rows listed in `routing_rows` (indices into ids, at least one)
  // and attends to its own selection. `reserve_tokens` sizes the KV for later Extend calls.
  // Writes the last token's logits into `logits` unless it is null (they stay in backend memory
  // at logits() either way). InvalidArgument for empty ids/routing rows or bad ids.
  [[nodiscard]] absl::Status Prefill(absl::Span<const int32_t> ids, int32_t first_position,
                                     const std::vector<int64_t>& routing_rows,
                                     int64_t reserve_tokens, std::vector<float>* logits);

  // Runs more tokens with the selection fixed (decode, or an injected block). causal=false lets
  // the block's tokens see each other fully. KV areas grow if the reservation is exceeded.
  [[nodiscard]] absl::Status Extend(absl::Span<const int32_t> ids, bool causal,
                                    std::vector<float>* logits);

  // Routes over `memory` from the next Prefill on (null: back to the local memory of the index).
  // REQUIRES: it outlives its use and shares the index's model and routed layers.
  void set_memory(RoutedMemory* memory) { memory_ = memory != nullptr ? memory : local_.get(); }
  RoutedMemory* memory() const { return memory_; }
  LocalMemory* local_memory() const { return local_.get(); }

  const std::vector<LayerRouting>& routing() const { return routing_; }
  // The last Prefill/Extend's logits ([vocab_size], backend memory).
  const float* logits() const { return logits_->f32(); }
  // Null when the runner has no content cache.
  const ContentCache* content_cache() const { return local_->cache(); }

 private:
  MsaRunner(const model::Qwen3Model* model, const model::MsaSettings* settings,
            const encode::RawKv* template_kv)
      : model_(model), settings_(settings), template_(template_kv) {}
  absl::Status Reserve(int64_t batch, int64_t context_rows);
  absl::Status EnsureBatch(int64_t batch);
  absl::Status GrowKv(size_t layer, int64_t rows);
  absl::Status RouteHook(int layer, const float* h, int64_t t, model::LayerKv& kv);
  absl::Status AttendHook(int layer, const float* q, int64_t t, float* out, float* lse);
  absl::Status RunLayers(absl::Span<const int32_t> ids, bool causal, bool route,
                         std::vector<float>* logits);

  const model::Qwen3Model* model_;
  const model::MsaSettings* settings_;
  const encode::RawKv* template_;
  std::unique_ptr<model::Qwen3Block> block_;
  std::unique_ptr<kernels::DeviceMemory> x_, logits_;
  std::vector<std::unique_ptr<kernels::DeviceMemory>> k_, v_;  // per layer
  std::vector<int64_t> kv_capacity_, kv_length_;               // per layer
  std::vector<int32_t> positions_;
  int32_t next_position_ = 0;
  std::vector<int64_t> routing_rows_;
  std::vector<LayerRouting> routing_;
  std::unique_ptr<LocalMemory> local_;  // the index's memory (routing keys, content cache)
  RoutedMemory* memory_ = nullptr;      // what queries route over: local_ or the caller's
  std::unique_ptr<kernels::DeviceMemory> h_rows_, q_rows_;  // routing scratch (backend memory)
  std::vector<float> q_host_, q_sum_;                        // routing queries (host)
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_MSA_RUNNER_H_
