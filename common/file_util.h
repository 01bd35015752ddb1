// File access helpers. errno is converted to absl::Status here and nowhere else.
#ifndef MNEME_COMMON_FILE_UTIL_H_
#define MNEME_COMMON_FILE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mneme {

// Converts errno `err` for an operation on `path` into a Status naming the file:
// ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied, others -> Internal.
absl::Status ErrnoToStatus(int err, std::string_view op, std::string_view path);

// Reads a whole regular file. Fails with InvalidArgument if it exceeds `max_bytes`.
[[nodiscard]] absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                                           size_t max_bytes = size_t{1} << 30);

// Writes `data` to `path` atomically: a temporary file in the same directory is written,
// fsynced and renamed over `path`, then the directory is fsynced so the rename is durable.
[[nodiscard]] absl::Status WriteFileAtomic(const std::string& path, std::string_view data);

// fsyncs a file or directory (a directory's fsync makes its entries' creation, rename and
// removal durable).
[[nodiscard]] absl::Status SyncPath(const std::string& path);

// A read-only memory mapping of a whole file. Immutable after Open, so safe to share between
// threads. The mapping lives as long as the object.
class MappedFile {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace mneme

#endif  // MNEME_COMMON_FILE_UTIL_H_
