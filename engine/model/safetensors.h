// Reader for the Hugging Face safetensors format (https://github.com/huggingface/safetensors):
//
//   [8-byte little-endian header length N][N bytes of JSON header][tensor data]
//
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets are
// relative to the start of the data section) plus an optional "__metadata__" string map.
// Every field is validated on Open; afterwards all accessors are infallible.
#ifndef MNEME_ENGINE_MODEL_SAFETENSORS_H_
#define MNEME_ENGINE_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/file_util.h"

namespace mneme::model {

// Element types mneme can load. Other safetensors dtypes (F64, I32, F8_E4M3, ...) are rejected.
enum class DType { kF32, kF16, kBF16 };

// The safetensors spelling of `dtype`: "F32", "F16" or "BF16".
std::string_view DTypeName(DType dtype);

// Bytes per element of `dtype`: 4 or 2.
size_t DTypeSize(DType dtype);

// One tensor of a safetensors file. `data` points into the file's read-only mapping (valid while
// the owning SafetensorsFile lives) and is NOT necessarily aligned: read it with memcpy.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;  // == numel() * DTypeSize(dtype)

  // Product of the dimensions (1 for a scalar, 0 if any dimension is 0).
  int64_t numel() const;
};

// A memory-mapped, fully validated safetensors file. Immutable after Open, so safe to share
// between threads.
class SafetensorsFile {
 public:
  // Maps and validates the file at `path`. Errors (each message names the file and, where there
  // is one, the tensor):
  //   NotFound / PermissionDenied  the file cannot be opened;
  //   DataLoss                     the file is shorter than the header length prefix, the header,
  //                                or a tensor's data range (truncated file);
  //   Unimplemented                a tensor has a valid safetensors dtype mneme does not support
  //                                (F64, I32, ...);
  //   InvalidArgument              anything else malformed: header length < 2 or > 100 MiB,
  //                                header not a JSON object, duplicate keys, unknown dtype,
  //                                bad shape, offsets reversed / inconsistent with shape /
  //                                overlapping another tensor, malformed __metadata__.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path given to Open.
  const std::string& path() const { return file_->path(); }

  // The tensor called `name`, or nullptr if there is none.
  const TensorInfo* Find(std::string_view name) const;

  // All tensors, sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // The "__metadata__" map (empty if the header has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  explicit SafetensorsFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}

  std::unique_ptr<MappedFile> file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_SAFETENSORS_H_
