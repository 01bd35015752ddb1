#include "engine/model/weight_source.h"

#include <bit>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/half.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::model {
namespace {

// safetensors data is little-endian; ReadF32 copies it as host-order words.
static_assert(std::endian::native == std::endian::little);

constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (!out.empty() && out.back() != '/') out += '/';
  out.append(name.data(), name.size());
  return out;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

// A shard name must be a plain file name inside the model directory.
bool IsSafeShardName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find("..") == std::string::npos &&
         name.find('\0') == std::string::npos && name != ".";
}

}  // namespace

absl::StatusOr<std::unique_ptr<WeightSource>> WeightSource::Open(const std::string& model_dir) {
  std::unique_ptr<WeightSource> source(new WeightSource(model_dir));
  const std::string index_path = JoinPath(model_dir, kIndexFile);
  absl::StatusOr<nlohmann::json> index = ReadJsonFile(index_path);
  if (!index.ok() && !absl::IsNotFound(index.status())) return index.status();

  if (!index.ok()) {  // single-file checkpoint
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(JoinPath(model_dir, kSingleFile));
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(absl::StrFormat("%s: model directory has neither %s nor %s",
                                                 model_dir, kSingleFile, kIndexFile));
    }
    if (!file.ok()) return file.status();
    for (const TensorInfo& t : (*file)->tensors()) source->tensors_.emplace(t.name, &t);
    source->files_.push_back(*std::move(file));
    return source;
  }

  // Sharded checkpoint: group the weight_map by shard.
  if (!index->is_object()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a JSON object", index_path));
  }
  auto wm = index->find("weight_map");
  if (wm == index->end() || !wm->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: missing or non-object \"weight_map\"", index_path));
  }
  if (wm->empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: \"weight_map\" is empty", index_path));
  }
  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensor names
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: weight_map entry for tensor '%s' is not a string", index_path, it.key()));
    }
    const std::string& shard = it.value().get_ref<const std::string&>();
    if (!IsSafeShardName(shard)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: weight_map maps tensor '%s' to shard '%s', which is not a plain file name in the "
          "model directory (no '/' or '..' allowed)",
          index_path, it.key(), shard));
    }
    by_shard[shard].push_back(it.key());
  }

  std::map<std::string, std::string, std::less<>> owner;  // tensor -> shard file
  for (const auto& [shard, names] : by_shard) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(JoinPath(model_dir, shard));
    if (!file.ok()) {
      return Annotate(file.status(),
                      absl::StrFormat("%s: shard '%s' named by weight_map", index_path, shard));
    }
    for (const std::string& name : names) {
      if ((*file)->Find(name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: weight_map puts tensor '%s' in shard '%s', which lacks it",
                            index_path, name, shard));
      }
    }
    for (const TensorInfo& t : (*file)->tensors()) {
      auto [it, inserted] = owner.emplace(t.name, shard);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: tensor '%s' is present in two shards, '%s' and '%s'", index_path,
                            t.name, it->second, shard));
      }
      source->tensors_.emplace(t.name, &t);
    }
    source->files_.push_back(*std::move(file));
  }
  return source;
}

const TensorInfo* WeightSource::Find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

std::vector<std::string> WeightSource::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) names.push_back(name);
  return names;
}

absl::Status WeightSource::ReadF32(std::string_view name,
                                   const std::vector<int64_t>& expected_shape, float* out) const {
  const TensorInfo* t = Find(name);
  if (t == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("%s: no tensor named '%s' in the model weights", model_dir_, name));
  }
  if (t->shape != expected_shape) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: tensor '%s' has shape %s, expected %s",
                                                      model_dir_, name, ShapeString(t->shape),
                                                      ShapeString(expected_shape)));
  }
  const size_t n = static_cast<size_t>(t->numel());
  switch (t->dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(out, t->data, n * sizeof(float));
      break;
    case DType::kBF16:
    case DType::kF16: {
      const bool bf16 = t->dtype == DType::kBF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, sizeof(h));
        out[i] = bf16 ? Bf16ToFloat(h) : Fp16ToFloat(h);
      }
      break;
    }
  }
  return absl::OkStatus();
}

std::string WeightSource::Fingerprint() const {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;  // FNV-1a 64 prime
    }
  };
  for (const auto& [name, t] : tensors_) {  // std::map: sorted by name
    mix(name);
    mix(std::string_view("\0", 1));
    mix(DTypeName(t->dtype));
    mix(std::string_view("\0", 1));
    mix(absl::StrJoin(t->shape, ","));
    mix("\n");
  }
  return absl::StrFormat("%016x", h);
}

}  // namespace mneme::model
