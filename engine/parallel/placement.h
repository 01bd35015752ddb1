// Where a sharded memory's documents live (docs/parallel.md).
//
// Layout of a memory directory:
//   * unsharded (generation 0, one rank): <data>/db, the single-process store;
//   * sharded (generation g >= 1): <data>/shards/g<g>/rank-<r>/db, one store per rank, named by
//     <data>/PLACEMENT.json {"format": 1, "ranks": N, "generation": g, "next_ordinal": {...}},
//     replaced atomically. Every document records its global ordinal (DocumentInfo), so a
//     rank's store alone says which documents it owns: a restart with the same N reopens the
//     same stores and every document is where its bytes are.
// Placement rule: each new document goes to the rank holding the fewest chunks of live
// documents, ties to the lower rank (the reference's balanced partition, in input order).
// Re-sharding to another N copies every live document's stored bytes (text and encoded
// segments, no re-encoding) into a new generation in global ordinal order under the same rule,
// then switches the manifest and removes the old generation: a crash before the switch leaves
// the old generation in force, one after it leaves only garbage that the next start removes
// (EnsureRanks drops every generation but the current one). A sharded generation missing a
// rank's store, or holding snapshots, is not re-sharded (DataLoss / FailedPrecondition).
#ifndef MNEME_ENGINE_PARALLEL_PLACEMENT_H_
#define MNEME_ENGINE_PARALLEL_PLACEMENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::parallel {

struct Manifest {
  int ranks = 1;
  int64_t generation = 0;  // 0: the unsharded <data>/db
  std::map<std::string, int64_t> next_ordinal;  // per session: one past the last global ordinal
};

// The manifest of `data_dir`; generation 0 with one rank when there is none. DataLoss if it
// exists but does not parse.
[[nodiscard]] absl::StatusOr<Manifest> ReadManifest(const std::string& data_dir);
[[nodiscard]] absl::Status WriteManifest(const std::string& data_dir, const Manifest& m);

// The directory holding rank `rank`'s store (its db/ inside) in `generation`.
std::string ShardDir(const std::string& data_dir, int64_t generation, int rank);

// The rank the placement rule picks given each rank's live chunks.
int LeastLoaded(const std::vector<int64_t>& chunks_per_rank);

struct ReshardReport {
  int from_ranks = 0, to_ranks = 0;
  int64_t documents = 0, chunks = 0;  // live documents copied
  std::vector<int64_t> chunks_per_rank;
};

// Brings `data_dir` to `ranks` ranks: nothing when the manifest already says so, else the
// re-shard above. Single process: no other process may have the directory open.
[[nodiscard]] absl::StatusOr<ReshardReport> EnsureRanks(const std::string& data_dir, int ranks);

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_PLACEMENT_H_
