// The coordinator's view of a memory sharded across ranks (query/routed_memory.h), in two modes:
//   * exact (default): every rank scores its shard and returns its local top k; the merge by
//     (score descending, ordinal ascending) is the exact global top k, the same documents one
//     process selects. The selected documents' K̄/V̄ are fetched from their owners (requests go
//     out first, the coordinator loads its own rows meanwhile) and laid out in ascending global
//     ordinal order, so attention sees exactly the single-process rows.
//   * IDSA-style: every rank keeps a local top m and attends to it itself; the coordinator merges
//     the partial outputs with their log-sum-exp (Backend::AttentionMerge) at every routed layer,
//     prefill and decode. Only queries and partial outputs cross ranks.
// Any transport failure is UNAVAILABLE naming the lost rank. Not thread-safe.
#ifndef MNEME_ENGINE_PARALLEL_SHARDED_MEMORY_H_
#define MNEME_ENGINE_PARALLEL_SHARDED_MEMORY_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/parallel/protocol.h"
#include "engine/parallel/shard.h"
#include "engine/parallel/transport.h"
#include "engine/query/routed_memory.h"
#include "kernels/device_link.h"

namespace mneme::parallel {

struct ShardedOptions {
  Mode mode = Mode::kExact;
  int top_m = 0;  // IDSA: local top m per rank; 0 = ceil(1.25 k / ranks)
  std::chrono::milliseconds timeout{30000};  // per request round trip
  // Device-to-device transfers (NCCL between distinct GPUs) for K̄/V̄ rows, queries and partial
  // outputs; null: they cross page-locked host memory in the transport's messages. Every worker
  // must serve with a link too.
  kernels::DeviceLink* link = nullptr;
};

class ShardedMemory final : public query::RoutedMemory {
 public:
  // REQUIRES: transport and local shard outlive the memory; every other rank serves ServeShard.
  ShardedMemory(Transport* transport, Shard* local, const ShardedOptions& opts);

  // Rebuilds the placement table from every rank's inventory.
  [[nodiscard]] absl::Status Refresh();
  // The placement table: owner rank of each global ordinal (-1: none), live chunks per rank.
  int Owner(int64_t global) const;
  const std::vector<int64_t>& live_chunks_per_rank() const { return rank_chunks_; }
  int64_t max_global() const { return static_cast<int64_t>(owner_.size()) - 1; }
  void Placed(int64_t global, int rank, int64_t chunks);
  void Deleted(int64_t global);
  int top_m(int top_k) const;
  // Switches mode from the next query on (benchmarks compare both on one memory).
  void set_mode(Mode mode) { opts_.mode = mode; }

  int64_t live_documents() const override { return live_; }
  bool IsLive(int64_t ordinal) const override;
  absl::StatusOr<std::string> Text(int64_t ordinal) override;
  int64_t MaxLoadRows(int top_k) const override;
  absl::StatusOr<std::vector<query::ScoredDoc>> Select(int slot, const float* q_sum, int64_t t, int top_k) override;
  absl::StatusOr<int64_t> Load(int slot, const std::vector<int64_t>& ordinals, float* k, float* v,
                               int64_t max_rows) override;
  bool partial_attention() const override { return opts_.mode == Mode::kIdsa && transport_->size() > 1; }
  absl::Status MergeAttention(int slot, const float* q, int64_t t, float* out, float* lse) override;

  // One request/reply round trip with a worker. Replies are the body after the worker's status,
  // a view into this memory's buffer for that rank: valid until the next reply from it.
  [[nodiscard]] absl::StatusOr<std::string_view> Call(int rank, const std::string& request);
  [[nodiscard]] absl::Status SendRequest(int rank, const std::string& request);
  [[nodiscard]] absl::StatusOr<std::string_view> ReceiveReply(int rank);

 private:
  // A kFetch reply from `rank` for `list`: checks its row count and returns what follows it.
  absl::StatusOr<std::string_view> ReceiveRows(int rank, const std::vector<int64_t>& list);
  // Host path of MergeAttention: the workers' partial outputs from their replies into parts_.
  absl::Status ReceiveParts(size_t qn, size_t ln);
  // Queues out/lse = the exact merge of the n parts in parts_/part_lse_ (ln rows of lse).
  absl::Status Merge(int n, size_t ln, float* out, float* lse);

  Transport* transport_;
  Shard* local_;
  ShardedOptions opts_;
  std::vector<int32_t> owner_;      // global -> rank, -1 none
  std::vector<int64_t> chunks_;     // global -> live chunks (0 when deleted)
  std::vector<int64_t> rank_chunks_;
  int64_t live_ = 0;
  std::vector<std::vector<int64_t>> idsa_local_;  // per slot: the coordinator's own IDSA selection
  std::string request_;
  std::vector<std::string> replies_;  // per rank, the last reply (ReceiveReply's views)
  std::unique_ptr<kernels::DeviceMemory> staging_, parts_, part_lse_;  // pinned host, backend, backend
  std::vector<float> q_host_;
};

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_SHARDED_MEMORY_H_
