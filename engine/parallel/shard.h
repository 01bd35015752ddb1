// One rank's part of a sharded memory: an engine session over the documents this rank owns,
// with the map between its local ordinals and the memory's global ordinals. Persistent shards
// wrap a StoredSession (appends are durable when acknowledged); in-memory shards wrap a plain
// MemorySession (benchmarks that replicate encoded documents). Not thread-safe.
#ifndef MNEME_ENGINE_PARALLEL_SHARD_H_
#define MNEME_ENGINE_PARALLEL_SHARD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/stored_session.h"

namespace mneme::parallel {

struct ShardDoc {
  int64_t global = 0, chunks = 0;
  bool live = true;
};

struct ShardInput {
  int64_t global = 0;
  std::string text, source;
  std::vector<std::string> tags;
  int64_t part_of = -1;
};

struct ShardAppended {
  int64_t global = 0;
  uint64_t id = 0;
  int64_t tokens = 0, chunks = 0;
  std::vector<int64_t> evicted;  // global ordinals tombstoned by the shard's retention
};

class Shard {
 public:
  // REQUIRES: the store `session` was opened on outlives the shard.
  static std::unique_ptr<Shard> Stored(std::unique_ptr<StoredSession> session);
  static std::unique_ptr<Shard> InMemory(std::unique_ptr<MemorySession> session);
  ~Shard();

  MemorySession& memory();
  int64_t Global(int64_t local) const { return global_.at(static_cast<size_t>(local)); }
  // -1 when this shard does not hold `global`.
  int64_t Local(int64_t global) const;

  // Encodes and stores documents at the given global ordinals; `done` receives every document
  // made durable (in input order) also when a later one fails. Stored shards only
  // (FailedPrecondition for in-memory ones, which take AppendPooled).
  [[nodiscard]] absl::Status AppendBatch(const std::vector<ShardInput>& docs, std::vector<ShardAppended>* done);
  // An already-encoded document (in-memory shards only).
  [[nodiscard]] absl::Status AppendPooled(int64_t global, memory::PooledDocument doc, std::string text);
  [[nodiscard]] absl::Status Delete(int64_t global);
  std::vector<ShardDoc> Inventory() const;
  StoredSession* stored() const { return stored_.get(); }

 private:
  Shard() = default;
  void Track(int64_t local, int64_t global);
  std::unique_ptr<StoredSession> stored_;
  std::unique_ptr<MemorySession> plain_;
  std::vector<int64_t> global_;                 // local -> global
  std::unordered_map<int64_t, int64_t> local_;  // global -> local
};

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_SHARD_H_
