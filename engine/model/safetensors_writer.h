// Writer for the safetensors format: the inverse of SafetensorsFile::Open. Used by tools and
// tests to produce checkpoints.
#ifndef MNEME_ENGINE_MODEL_SAFETENSORS_WRITER_H_
#define MNEME_ENGINE_MODEL_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/safetensors.h"

namespace mneme::model {

// One tensor to write. `bytes` is the raw little-endian data (numel * DTypeSize(dtype) bytes);
// it must stay valid for the duration of the WriteSafetensors call.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string_view bytes;
};

// Writes `tensors` (data laid out contiguously in the given order) and `metadata` (as
// "__metadata__", omitted when empty) to `path` atomically. The JSON header is padded with
// spaces to a multiple of 8 bytes. Errors: InvalidArgument (naming the path and tensor) for an
// empty, duplicate, "__metadata__" or non-UTF-8 name, a negative dimension, or a byte count
// that does not match the shape; otherwise the I/O error from WriteFileAtomic. Thread-compatible.
[[nodiscard]] absl::Status WriteSafetensors(const std::string& path,
                                            const std::vector<TensorToWrite>& tensors,
                                            const std::map<std::string, std::string>& metadata);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_SAFETENSORS_WRITER_H_
