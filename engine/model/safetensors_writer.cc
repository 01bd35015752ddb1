#include "engine/model/safetensors_writer.h"

#include <limits>
#include <set>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::model {

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  auto invalid = [&path](const std::string& name, const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot write tensor '%s': %s", path, name, what));
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty()) return invalid(t.name, "empty name");
    if (t.name == "__metadata__") return invalid(t.name, "reserved name");
    if (!seen.insert(t.name).second) return invalid(t.name, "duplicate name");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return invalid(t.name, "negative dimension");
      const uint64_t ud = static_cast<uint64_t>(d);
      if (ud != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ud) {
        return invalid(t.name, "element count overflows");
      }
      numel *= ud;
    }
    const uint64_t elem = DTypeSize(t.dtype);
    if (numel > std::numeric_limits<uint64_t>::max() / elem ||
        numel * elem != static_cast<uint64_t>(t.bytes.size())) {
      return invalid(t.name,
                     absl::StrFormat("has %d bytes but dtype %s with %d elements needs "
                                     "%d bytes",
                                     t.bytes.size(), DTypeName(t.dtype), numel, numel * elem));
    }
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(DTypeName(t.dtype));
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + t.bytes.size()};
    header[t.name] = std::move(entry);
    offset += t.bytes.size();
  }

  std::string header_text;
  try {
    header_text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot serialise safetensors header: %s", path, e.what()));
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += header_text;
  for (const TensorToWrite& t : tensors) {
    if (!t.bytes.empty()) out.append(t.bytes.data(), t.bytes.size());
  }
  return WriteFileAtomic(path, out);
}

}  // namespace mneme::model
