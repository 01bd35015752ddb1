// Snapshots of a memory directory: <data>/snapshots/<name>/ holding db/ (a RocksDB checkpoint:
// SST and blob files hard-linked, so creation takes about the same time at any size) and
// manifest.json (counts per session, every file with its size and checksum, and a CRC-32C over
// the manifest itself). Format: docs/format/store.md.
//
// Creation holds the store's write gate exclusively for the checkpoint only, so a snapshot holds
// exactly the documents whose appends were acknowledged before it and none that were not, and
// never a partial one. It is built in snapshots/.tmp-<name>, fsynced, then renamed into place:
// an interrupted snapshot is absent, never half-present.
#ifndef MNEME_MEMORY_SNAPSHOT_H_
#define MNEME_MEMORY_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/store.h"

namespace mneme::memory {

struct SnapshotSessionCount {
  std::string name;
  int64_t documents = 0, live_documents = 0, tokens = 0, chunks = 0;
};

struct SnapshotInfo {
  std::string name, path;
  int64_t created_unix = 0;
  uint64_t sequence = 0;  // RocksDB sequence number the checkpoint holds
  std::vector<SnapshotSessionCount> sessions;
  int64_t files = 0, bytes = 0;
  double seconds = 0.0;   // creation (or verification) time
};

// InvalidArgument for a bad name (same rule as sessions); AlreadyExists; FailedPrecondition for a
// read-only store.
[[nodiscard]] absl::StatusOr<SnapshotInfo> CreateSnapshot(Store& store, std::string_view name);

// The snapshots of a memory directory, by name; each from its manifest (not verified).
[[nodiscard]] absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& data_dir);

// Checks the manifest's own CRC, every file's size and checksum, opens the checkpoint read-only
// and verifies it fully (memory/verify.h), and compares the per-session counts. DataLoss naming
// the file, session or document on any damage; NotFound for an unknown snapshot.
[[nodiscard]] absl::StatusOr<SnapshotInfo> VerifySnapshot(const std::string& data_dir, std::string_view name);

// Verifies the snapshot, then materialises it as a new memory directory `target_dir` (which must
// not exist or be empty). AlreadyExists / DataLoss / NotFound.
[[nodiscard]] absl::StatusOr<SnapshotInfo> RestoreSnapshot(const std::string& data_dir, std::string_view name,
                                                           const std::string& target_dir);

[[nodiscard]] absl::Status RemoveSnapshot(const std::string& data_dir, std::string_view name);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_SNAPSHOT_H_
