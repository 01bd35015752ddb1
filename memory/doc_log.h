// The document log of a session directory: one JSON object per line, appended and fsynced per
// record, so an acknowledged append or delete survives a crash. It is the session's source of
// truth until the RocksDB store (issue #4) replaces it; opening a session replays it.
//
//   {"op":"add","ordinal":i,"id":"<16 hex>","text":...,"source":...,"tags":[...],"part_of":j}
//   {"op":"delete","ordinal":i}
//
// A torn final line (a crash mid-write) is ignored on open and cut off before the next append;
// a malformed line anywhere else is DataLoss. Format: docs/format/doc_log.md.
// Thread safety: none. One process writes a session at a time (SessionDir holds the lock).
#ifndef MNEME_MEMORY_DOC_LOG_H_
#define MNEME_MEMORY_DOC_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::memory {

struct DocRecord {
  enum class Op { kAdd, kDelete };
  Op op = Op::kAdd;
  int64_t ordinal = 0;
  uint64_t id = 0;
  std::string text, source;
  std::vector<std::string> tags;
  int64_t part_of = -1;  // ordinal of the first part when a long document was split
};

class DocLog {
 public:
  // Opens (creating if missing) and reads the log. DataLoss on a malformed record before the
  // last line, or records out of order (add ordinals must be 0, 1, 2, ...).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DocLog>> Open(const std::string& path);
  ~DocLog();

  const std::vector<DocRecord>& records() const { return records_; }
  int64_t next_ordinal() const { return next_ordinal_; }

  // Appends one record and fsyncs before returning. InvalidArgument for an add whose ordinal is
  // not next_ordinal().
  [[nodiscard]] absl::Status Append(const DocRecord& r);

 private:
  DocLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  int64_t end_ = 0;  // byte length of the whole records written
  std::vector<DocRecord> records_;
  int64_t next_ordinal_ = 0;
};

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_DOC_LOG_H_
