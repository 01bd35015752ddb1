// All tensors of a Hugging Face model directory: either one `model.safetensors` or the shards
// listed by `model.safetensors.index.json`.
#ifndef MNEME_ENGINE_MODEL_WEIGHT_SOURCE_H_
#define MNEME_ENGINE_MODEL_WEIGHT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/safetensors.h"

namespace mneme::model {

// The weights of one model directory, memory-mapped. Immutable after Open, so safe to share
// between threads.
class WeightSource {
 public:
  // Opens `model_dir`. If `model_dir/model.safetensors.index.json` exists, its "weight_map"
  // (tensor name -> shard file name) is read and each distinct shard is opened once; otherwise
  // `model_dir/model.safetensors` is opened. Tensors present in a shard but not listed in the
  // index are still served (as Hugging Face transformers does). Errors:
  //   NotFound         neither file exists, or a shard named by the index is missing;
  //   InvalidArgument  malformed index (no weight_map object, non-string entries, shard names
  //                    that contain '/' or "..", a tensor the index assigns to a shard that lacks
  //                    it, a tensor present in two shards), or any SafetensorsFile::Open error
  //                    (which keeps its own code: DataLoss, Unimplemented, ...).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WeightSource>> Open(
      const std::string& model_dir);

  WeightSource(const WeightSource&) = delete;
  WeightSource& operator=(const WeightSource&) = delete;

  // The directory given to Open.
  const std::string& model_dir() const { return model_dir_; }

  // The tensor called `name`, or nullptr.
  const TensorInfo* Find(std::string_view name) const;

  // All tensor names, sorted.
  std::vector<std::string> Names() const;

  // Number of tensors.
  size_t size() const { return tensors_.size(); }

  // Copies tensor `name`, converted to fp32, into `out`, which must hold
  // product(expected_shape) floats. Errors: NotFound if there is no such tensor (names the
  // tensor and the directory); InvalidArgument if its shape differs from `expected_shape`
  // (shows both).
  [[nodiscard]] absl::Status ReadF32(std::string_view name,
                                     const std::vector<int64_t>& expected_shape, float* out) const;

  // A stable 16-hex-digit FNV-1a 64 hash over the sorted tensor names, dtypes and shapes (not
  // the values): equal for two checkpoints of the same architecture and layout.
  std::string Fingerprint() const;

 private:
  explicit WeightSource(std::string model_dir) : model_dir_(std::move(model_dir)) {}

  std::string model_dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> tensors_;
};

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_WEIGHT_SOURCE_H_
