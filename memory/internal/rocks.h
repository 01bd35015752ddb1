// The RocksDB handles behind memory::Store, shared with the admin modules of memory/ (snapshot,
// compaction, verification, stats). Never included outside memory/.
#ifndef MNEME_MEMORY_INTERNAL_ROCKS_H_
#define MNEME_MEMORY_INTERNAL_ROCKS_H_

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "memory/retention.h"
#include "rocksdb/db.h"

namespace mneme::memory::internal {

inline constexpr const char* kMetaCf = "meta";
inline constexpr const char* kTextCf = "text";
inline constexpr const char* kSegmentsCf = "segments";

// Per-session state for appends: the next ordinal and the live documents retention looks at.
// Built lazily from the meta CF; guarded by `mu`.
struct SessionState {
  std::mutex mu;
  bool loaded = false;
  int64_t next_ordinal = 0;
  std::deque<LiveDoc> live;
  int64_t live_bytes = 0;
};

struct Rocks {
  std::string data_dir, db_dir;
  bool read_only = false;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* text = nullptr;
  rocksdb::ColumnFamilyHandle* segments = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // all, owned; destroyed before db

  // Mutations take it shared; snapshot creation exclusive.
  std::shared_mutex write_gate;

  std::mutex sessions_mu;  // guards the map, not the states
  std::map<uint64_t, std::unique_ptr<SessionState>> sessions;

  ~Rocks();
  rocksdb::WriteOptions SyncWrite() const;
  std::vector<rocksdb::ColumnFamilyHandle*> DataFamilies() const { return {meta, text, segments}; }
};

// rocksdb::Status -> absl::Status: Corruption -> DataLoss, NotFound, InvalidArgument, lock
// conflicts -> FailedPrecondition, missing files -> DataLoss, other I/O -> Unavailable.
absl::Status ToAbsl(const rocksdb::Status& s, std::string_view what);

// The options every opener uses (the store itself, snapshot verification, restore).
rocksdb::DBOptions DbOptions();
rocksdb::ColumnFamilyOptions CfOptions(std::string_view name);

// Opens `db_dir` with the store's column families. read_only opens without the lock; `env` null
// means the default environment.
absl::Status OpenRocks(const std::string& db_dir, bool read_only, bool create, rocksdb::Env* env, Rocks* out);

}  // namespace mneme::memory::internal

#endif  // MNEME_MEMORY_INTERNAL_ROCKS_H_
