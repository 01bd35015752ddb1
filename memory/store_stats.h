// What a store holds: per session counts and bytes, bytes per column family on disk, and the
// memory a session takes once loaded (the host tier of the CPU backend: fp32 routing keys and
// content K̄/V̄ plus texts).
#ifndef MNEME_MEMORY_STORE_STATS_H_
#define MNEME_MEMORY_STORE_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/store.h"

namespace mneme::memory {

struct FamilyBytes {
  std::string name;
  int64_t sst_bytes = 0, blob_bytes = 0, sst_files = 0, blob_files = 0;
  int64_t total() const { return sst_bytes + blob_bytes; }
};

// One pass over a session's document records.
struct DocumentCounts {
  int64_t documents = 0, live_documents = 0, tokens = 0, chunks = 0;  // tokens, chunks: live only
  int64_t text_bytes = 0, segment_bytes = 0;  // live documents, as stored (before RocksDB overhead)
};
[[nodiscard]] absl::StatusOr<DocumentCounts> CountDocuments(const Store& store, uint64_t sid);

struct SessionStats : DocumentCounts {
  std::string name;
  std::string codec;
  int64_t host_routing_bytes = 0;             // fp32 routing keys once loaded
  int64_t host_content_bytes = 0;             // fp32 K̄ and V̄ once loaded
};

struct StoreStats {
  std::vector<SessionStats> sessions;
  std::vector<FamilyBytes> families;  // meta, text, segments
  int64_t wal_bytes = 0;
  int64_t disk_bytes = 0;             // SST + blob files of all families + WAL
  int64_t live_tokens = 0;
  double disk_bytes_per_token() const { return live_tokens ? static_cast<double>(disk_bytes) / live_tokens : 0.0; }
};

// The live SST and blob bytes of the store's data families (what compaction shrinks).
[[nodiscard]] absl::StatusOr<std::vector<FamilyBytes>> FamilyFileBytes(const Store& store);

[[nodiscard]] absl::StatusOr<StoreStats> ComputeStats(const Store& store);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_STORE_STATS_H_
