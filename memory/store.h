// The persistent store of a memory directory: one RocksDB database at <data>/db with column
// families meta, text and segments (docs/format/store.md).
//
// Durability: every mutation is one WriteBatch written with sync=true, so when Append/Delete
// returns OK the change survives kill -9 and power loss (concurrent writers share a commit:
// RocksDB's group commit). Opening uses WAL recovery mode kTolerateCorruptedTailRecords,
// paranoid checks and whole-file CRC-32C checksums; segments live in blob files.
//
// Concurrency: thread-safe. One process opens a directory read-write at a time (a second gets
// FailedPrecondition); any number may open it read-only. Mutations hold a shared "write gate";
// snapshot creation holds it exclusively so a checkpoint never contains a half-acknowledged
// batch (memory/snapshot.h).
#ifndef MNEME_MEMORY_STORE_H_
#define MNEME_MEMORY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/records.h"

namespace rocksdb {
class Env;
}

namespace mneme::memory {

struct StoreOptions {
  bool read_only = false;
  bool create_if_missing = true;  // ignored when read_only
  rocksdb::Env* env = nullptr;    // file system to use (fault-injection tests); null = the default
};

// One document as Append writes it: metadata, text and one encoded segment per routed layer
// (session.layers order). info.ordinal must be the session's next ordinal.
struct DocumentWrite {
  DocumentInfo info;
  std::string_view text;
  std::vector<std::string> segments;
};

struct AppendResult {
  int64_t ordinal = 0;
  std::vector<int64_t> evicted;  // ordinals tombstoned by the session's retention in the same batch
};

namespace internal {
struct Rocks;  // memory/internal/rocks.h
}

class Store {
 public:
  // Opens (creating if allowed) <data_dir>/db. FailedPrecondition when another process holds it
  // read-write; NotFound when missing and not creating; DataLoss for damage detected on open (a
  // bad MANIFEST or CURRENT, a corrupted WAL record before the tail, a missing or damaged SST,
  // store files without CURRENT). Damaged blob files open; reads of the segments they hold fail
  // with DataLoss and VerifyStore reports them. A truncated or deleted WAL loses its last
  // appends silently (docs/format/store.md, "What is not detected").
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& data_dir,
                                                                  const StoreOptions& opts);
  ~Store();

  const std::string& data_dir() const;
  bool read_only() const;

  // ---- sessions ----
  // Assigns a fresh random id. InvalidArgument for a bad name ([A-Za-z0-9._-], 1..64 chars, not
  // starting with '.'); AlreadyExists.
  [[nodiscard]] absl::StatusOr<SessionInfo> CreateSession(SessionInfo info);
  [[nodiscard]] absl::StatusOr<std::vector<SessionInfo>> ListSessions() const;
  // NotFound naming the session and the directory.
  [[nodiscard]] absl::StatusOr<SessionInfo> GetSession(std::string_view name) const;
  // Rewrites a session's record (codec, retention); id and name must match an existing session.
  [[nodiscard]] absl::Status UpdateSession(const SessionInfo& info);
  // Removes the session and all its documents (bytes reclaimed by compaction).
  [[nodiscard]] absl::Status DropSession(std::string_view name);

  // ---- documents ----
  // The next ordinal of a session (one past the last document ever appended).
  [[nodiscard]] absl::StatusOr<int64_t> NextOrdinal(uint64_t sid) const;
  // Writes the document, then tombstones what the session's retention evicts, all in one synced
  // batch. InvalidArgument if the ordinal is not the next one or the segment count is wrong.
  [[nodiscard]] absl::StatusOr<AppendResult> Append(const SessionInfo& session, const DocumentWrite& doc);
  // Tombstones a document and removes its text and segments. NotFound / FailedPrecondition
  // (already deleted).
  [[nodiscard]] absl::Status Delete(const SessionInfo& session, int64_t ordinal);
  // Rewrites a live document's segments (compaction's re-encode), one synced batch.
  [[nodiscard]] absl::Status RewriteSegments(const SessionInfo& session, const DocumentInfo& info,
                                             const std::vector<std::string>& segments);

  [[nodiscard]] absl::StatusOr<DocumentInfo> GetDocument(uint64_t sid, int64_t ordinal) const;
  // The text, checked against the record's CRC. FailedPrecondition for a deleted document.
  [[nodiscard]] absl::StatusOr<std::string> GetText(uint64_t sid, const DocumentInfo& doc) const;
  // The raw segment bytes of one routed layer (decode with DecodeSegment).
  [[nodiscard]] absl::StatusOr<std::string> GetSegment(uint64_t sid, int64_t ordinal, int layer) const;

  // Visits the documents of a session in ordinal order from `from`, tombstones included, as one
  // consistent view. Stops at the first non-OK status the visitor returns.
  using DocVisitor = std::function<absl::Status(const DocumentInfo&)>;
  [[nodiscard]] absl::Status ScanDocuments(uint64_t sid, int64_t from, const DocVisitor& visit) const;

  // Like ScanDocuments, with the text and segments of live documents (empty for tombstones),
  // read with sequential iterators: the warm-restart path. Memory is bounded by one document.
  using FullVisitor = std::function<absl::Status(const DocumentInfo&, std::string_view text,
                                                 const std::vector<std::string>& segments)>;
  [[nodiscard]] absl::Status ScanFull(const SessionInfo& session, const FullVisitor& visit) const;

  internal::Rocks& rocks() const { return *rocks_; }  // for memory/ admin modules only

 private:
  explicit Store(std::unique_ptr<internal::Rocks> rocks);
  std::unique_ptr<internal::Rocks> rocks_;
};

// "[A-Za-z0-9._-], 1..64 chars, not starting with '.'"; InvalidArgument otherwise.
absl::Status ValidateSessionName(std::string_view name);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_STORE_H_
