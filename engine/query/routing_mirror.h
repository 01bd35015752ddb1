// The routing side of a MemoryIndex in backend memory: per routed-layer slot the [chunks, width]
// routing keys, the chunk -> document map, and the per-query buffers (summed routing queries,
// document scores). On a host-addressable backend (cpu) nothing is copied and ops read the index
// directly; on a GPU the keys stay resident and only new chunks are uploaded.
//
// Invariant relied on: a MemoryIndex only appends chunks (deletes are tombstones, compaction
// builds a new index and so a new mirror), so after a sync the first synced_chunks() rows equal
// the index's. Not thread-safe; the owning session serialises use.
#ifndef MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_
#define MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "kernels/ops.h"
#include "memory/memory_index.h"

namespace mneme::query {

class RoutingMirror {
 public:
  // REQUIRES: both outlive the mirror.
  RoutingMirror(kernels::Backend* backend, const memory::MemoryIndex* index)
      : be_(backend), index_(index) {}

  // Document scores of routed-layer `slot` for the summed routing queries q_sum [t, width]
  // (host memory): scores->at(d) is the max over tokens and d's chunks (-inf without chunks).
  // Uploads the chunks appended since the last call first.
  [[nodiscard]] absl::Status Score(int slot, const float* q_sum, int64_t t, std::vector<float>* scores);

  const memory::MemoryIndex& index() const { return *index_; }
  int64_t synced_chunks() const { return synced_; }

 private:
  absl::Status Sync();
  // Grows `mem` (geometrically) to hold at least `bytes`, keeping none of its contents.
  absl::Status Reserve(std::unique_ptr<kernels::DeviceMemory>* mem, size_t bytes);

  kernels::Backend* be_;
  const memory::MemoryIndex* const index_;
  int64_t synced_ = 0;    // chunks uploaded
  int64_t capacity_ = 0;  // chunks the buffers hold
  std::vector<std::unique_ptr<kernels::DeviceMemory>> keys_;  // per slot [capacity, width]
  std::unique_ptr<kernels::DeviceMemory> chunk_doc_, q_, scores_;
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_
