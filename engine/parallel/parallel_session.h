// The coordinator (rank 0) of a memory sharded across MPI ranks: the SessionApi the CLI uses
// under mpirun. Rank 0 owns a shard too; every other rank runs ServeShard over its own.
//
// Appends: each document's chunk count is planned on the coordinator (tokenizer only), it goes
// to the least-loaded rank (placement.h), each rank encodes and stores its part of a batch in
// parallel, and the document routes from the next query on. Queries run on the coordinator over
// a ShardedMemory in exact or IDSA-style mode. A lost rank fails the call with UNAVAILABLE
// naming it (within the transport timeout); the caller then shuts the cluster down.
#ifndef MNEME_ENGINE_PARALLEL_PARALLEL_SESSION_H_
#define MNEME_ENGINE_PARALLEL_PARALLEL_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/parallel/shard.h"
#include "engine/parallel/sharded_memory.h"
#include "engine/session_api.h"
#include "engine/stored_session.h"

namespace mneme::parallel {

class ParallelSession final : public SessionApi {
 public:
  // REQUIRES: transport outlives the session; rank 0. `next_ordinal` is the manifest's hint (the
  // ordinal after documents no store holds any more).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ParallelSession>> Open(Transport* transport,
                                                                             std::unique_ptr<Shard> local,
                                                                             ShardedOptions opts,
                                                                             int64_t next_ordinal = 0,
                                                                             std::unique_ptr<kernels::DeviceLink> link = nullptr);
  ~ParallelSession() override;

  absl::Status AppendBatch(const std::vector<DocumentInput>& docs, std::vector<StoredAppend>* done) override;
  int64_t next_ordinal() const override { return next_; }
  absl::Status Delete(int64_t ordinal) override;
  absl::StatusOr<RouteResult> Route(std::string_view question) override;
  absl::StatusOr<AskResult> Ask(std::string_view question, const AskOptions& opts,
                                const std::function<void(int32_t)>& on_token = nullptr) override;
  absl::StatusOr<std::vector<std::string>> SplitForPositions(std::string_view text) const override;
  int64_t live_documents() const override { return memory_->live_documents(); }
  double load_ms() const override { return load_ms_; }
  std::string backend_name() const override;
  const tokenizer::Tokenizer& tokenizer() const override;


 private:
  ParallelSession() = default;
  Transport* transport_ = nullptr;
  std::unique_ptr<Shard> local_;
  std::unique_ptr<kernels::DeviceLink> link_;  // before memory_, which uses it
  std::unique_ptr<ShardedMemory> memory_;
  int64_t next_ = 0;
  double load_ms_ = 0.0;
};

// Tells every worker rank to leave ServeShard (best effort: peers known to be gone are skipped,
// each send gives up after 2 s). Rank 0 calls it once per command, whatever its outcome.
void ShutdownWorkers(Transport* transport, const std::string& reason);

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_PARALLEL_SESSION_H_
