// The routing side of a MemoryIndex in backend memory, and the selection of a layer's top-k
// documents on that backend. Three paths, chosen once per mirror:
//   * host: backend memory is host memory (cpu): RouteScores reads the index in place, the
//     top k is taken on the host; nothing is copied.
//   * device bf16 (GPU, kv width a multiple of 64 up to 1024): the routing keys stay resident as
//     bf16 (exactly the stored values, half the bytes of fp32), RouteTopK scans them on tensor
//     cores and selects on the device; only k (ordinal, score) pairs come back. A live-set mask
//     mirrors tombstones.
//   * device fp32 (other GPU shapes, e.g. the tiny test models): fp32 keys, RouteScores on the
//     device, scores copied back, top k on the host.
// On the device paths only the chunks appended since the last query are uploaded; capacity
// doubles as it grows.
//
// Invariant relied on: a MemoryIndex only appends chunks (deletes are tombstones, compaction
// builds a new index and so a new mirror), so after a sync the first synced_chunks() rows equal
// the index's. Not thread-safe; the owning session serialises use.
#ifndef MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_
#define MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "memory/memory_index.h"

namespace mneme::query {

struct ScoredDoc {
  int64_t ordinal;
  float score;
};

class RoutingMirror {
 public:
  enum class Path { kHost, kDeviceBf16, kDeviceF32 };

  // REQUIRES: both outlive the mirror.
  RoutingMirror(kernels::Backend* backend, const memory::MemoryIndex* index);

  // The top_k live documents of routed-layer `slot` for the summed routing queries
  // q_sum [t, width] (host memory), by descending score, ties to the lower ordinal; fewer when
  // fewer documents are live. Uploads what was appended or deleted since the last call first.
  [[nodiscard]] absl::StatusOr<std::vector<ScoredDoc>> Select(int slot, const float* q_sum, int64_t t,
                                                              int top_k);

  const memory::MemoryIndex& index() const { return *index_; }
  Path path() const { return path_; }
  int64_t synced_chunks() const { return synced_; }

 private:
  absl::Status Sync();
  absl::Status SyncLiveSet();
  size_t KeyBytes() const { return path_ == Path::kDeviceBf16 ? 2 : 4; }

  kernels::Backend* be_;
  const memory::MemoryIndex* const index_;
  Path path_;
  int64_t synced_ = 0;    // chunks uploaded
  int64_t capacity_ = 0;  // chunks the key buffers hold
  int64_t live_docs_synced_ = -1, live_deletions_synced_ = -1;  // live-set mask state
  std::vector<std::unique_ptr<kernels::DeviceMemory>> keys_;  // per slot [capacity, width]
  std::unique_ptr<kernels::DeviceMemory> chunk_doc_, q_, scores_, dead_;
  std::vector<uint16_t> staging_;  // bf16 conversion of one upload
  std::vector<uint8_t> dead_host_;
  std::vector<float> host_scores_;  // host/fp32 paths: every document's score
  std::vector<int32_t> top_ids_;     // bf16 path: RouteTopK's winners
  std::vector<float> top_scores_;
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_ROUTING_MIRROR_H_
