// What a query runner needs from the memory it routes over, behind one interface, so the same
// MSA query runs over the memory of this process (LocalMemory) or over a memory sharded across
// MPI ranks (engine/parallel/sharded_memory.h).
//
// Ordinals are the ones the caller sees: a local index's own, or global ordinals across shards.
// Per routed layer the runner calls Select, then Load with the selection in ascending ordinal
// order; with partial_attention() the runner also calls MergeAttention after its own attention
// at every routed layer (IDSA-style: other holders attend to what they selected and the
// partial outputs are merged by log-sum-exp).
#ifndef MNEME_ENGINE_QUERY_ROUTED_MEMORY_H_
#define MNEME_ENGINE_QUERY_ROUTED_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/query/content_cache.h"
#include "engine/query/routing_mirror.h"
#include "kernels/ops.h"
#include "memory/memory_index.h"

namespace mneme::query {

class RoutedMemory {
 public:
  virtual ~RoutedMemory() = default;

  virtual int64_t live_documents() const = 0;
  virtual bool IsLive(int64_t ordinal) const = 0;
  // The text of a live document (memory interleaving injects it). NotFound for others.
  [[nodiscard]] virtual absl::StatusOr<std::string> Text(int64_t ordinal) = 0;
  // An upper bound of the rows Load may write for one routed layer when `top_k` is asked for.
  virtual int64_t MaxLoadRows(int top_k) const = 0;

  // The documents routed-layer `slot` selects for the summed routing queries q_sum [t, kv_width]
  // (host memory; query/router.h), by descending score, ties to the lower ordinal.
  [[nodiscard]] virtual absl::StatusOr<std::vector<ScoredDoc>> Select(int slot, const float* q_sum,
                                                                      int64_t t, int top_k) = 0;
  // Writes the content K̄/V̄ rows of the selected documents this process attends to (all of
  // them unless partial_attention()) for `slot`, in the ascending ordinal order of `ordinals`,
  // to k / v (backend memory, room for max_rows rows) and returns the rows written.
  // Stream-ordered. InternalError, with nothing written, if they would exceed max_rows.
  [[nodiscard]] virtual absl::StatusOr<int64_t> Load(int slot, const std::vector<int64_t>& ordinals,
                                                     float* k, float* v, int64_t max_rows) = 0;

  // IDSA-style: after this process's attention at routed-layer `slot` over its own rows, merge
  // the partial attentions of the memory held elsewhere into out [t, heads, head_dim] given its
  // log-sum-exp lse [t, heads] (both backend memory, updated in place); q [t, heads, head_dim]
  // (backend memory) are the layer's rotated queries.
  virtual bool partial_attention() const { return false; }
  [[nodiscard]] virtual absl::Status MergeAttention(int slot, const float* q, int64_t t, float* out,
                                                    float* lse) {
    return absl::UnimplementedError("this memory attends in one place");
  }
};

// The memory of one MemoryIndex in this process: routing keys mirrored on the backend
// (RoutingMirror), content K̄/V̄ read from the index or, on backends whose memory is not host
// memory, through a ContentCache of `content_cache_bytes` (0: none). Not thread-safe.
class LocalMemory final : public RoutedMemory {
 public:
  // REQUIRES: backend and index outlive the memory.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalMemory>> Create(
      kernels::Backend* backend, const memory::MemoryIndex* index, size_t content_cache_bytes);

  int64_t live_documents() const override { return index_->live_documents(); }
  bool IsLive(int64_t ordinal) const override { return index_->IsLive(ordinal); }
  absl::StatusOr<std::string> Text(int64_t ordinal) override;
  int64_t MaxLoadRows(int top_k) const override;
  absl::StatusOr<std::vector<ScoredDoc>> Select(int slot, const float* q_sum, int64_t t, int top_k) override;
  absl::StatusOr<int64_t> Load(int slot, const std::vector<int64_t>& ordinals, float* k, float* v,
                               int64_t max_rows) override;

  const memory::MemoryIndex& index() const { return *index_; }
  const ContentCache* cache() const { return cache_.get(); }

 private:
  LocalMemory(kernels::Backend* backend, const memory::MemoryIndex* index)
      : be_(backend), index_(index), mirror_(backend, index) {}
  kernels::Backend* be_;
  const memory::MemoryIndex* index_;
  RoutingMirror mirror_;
  std::unique_ptr<ContentCache> cache_;
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_ROUTED_MEMORY_H_
