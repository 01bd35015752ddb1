#include "engine/model/safetensors.h"

#include <algorithm>
#include <limits>
#include <new>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::model {

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "?";
}

size_t DTypeSize(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when the file was opened
  return n;
}

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Safetensors dtypes that are valid but which mneme does not load.
constexpr std::string_view kUnsupportedDTypes[] = {
    "BOOL", "U8",  "I8", "U16",     "I16",     "U32",     "I32", "U64",     "I64",
    "F64",  "C64", "U1", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2"};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

// Parses `text` as JSON, rejecting duplicate object keys at any depth (nlohmann would silently
// keep the last one). Never throws.
absl::StatusOr<json> ParseHeaderJson(std::string_view text, const std::string& path) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json parsed;
  try {
    json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& value) {
      switch (event) {
        case json::parse_event_t::object_start:
          open_objects.emplace_back();
          break;
        case json::parse_event_t::object_end:
          if (!open_objects.empty()) open_objects.pop_back();
          break;
        case json::parse_event_t::key:
          if (!open_objects.empty() && value.is_string() &&
              !open_objects.back().insert(value.get_ref<const std::string&>()).second &&
              duplicate.empty()) {
            duplicate = value.get_ref<const std::string&>();
          }
          break;
        default:
          break;
      }
      return true;
    };
    parsed = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: out of memory parsing the safetensors header", path));
  } catch (...) {
    parsed = json::value_t::discarded;
  }
  if (parsed.is_discarded()) {
    // Re-parse through the common helper for a message with the error position.
    absl::StatusOr<json> again = ParseJson(text, path + " (safetensors header)");
    if (!again.ok()) return again.status();
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: safetensors header is not valid JSON", path));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: safetensors header has duplicate key '%s'", path, duplicate));
  }
  return parsed;
}

// Reads a non-negative JSON integer that fits in int64.
bool GetNonNegative(const json& v, uint64_t* out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
  } else {
    int64_t s = v.get<int64_t>();
    if (s < 0) return false;
    *out = static_cast<uint64_t>(s);
  }
  return *out <= kMaxInt64;
}

struct Range {
  uint64_t begin;
  uint64_t end;
  size_t tensor;
};

// Validates one header entry and fills `info` (all but `data`) and `range`.
absl::Status ParseTensorEntry(const std::string& path, const std::string& name, const json& v,
                              uint64_t data_size, TensorInfo* info, Range* range) {
  auto invalid = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: tensor '%s': %s", path, name, what));
  };
  if (name.empty()) return invalid("empty tensor name");
  if (!v.is_object()) return invalid("header entry is not a JSON object");
  info->name = name;

  // dtype
  auto it = v.find("dtype");
  if (it == v.end()) return invalid("missing \"dtype\"");
  if (!it->is_string()) return invalid("\"dtype\" is not a string");
  const std::string& dtype = it->get_ref<const std::string&>();
  if (dtype == "F32") {
    info->dtype = DType::kF32;
  } else if (dtype == "F16") {
    info->dtype = DType::kF16;
  } else if (dtype == "BF16") {
    info->dtype = DType::kBF16;
  } else if (std::find(std::begin(kUnsupportedDTypes), std::end(kUnsupportedDTypes), dtype) !=
             std::end(kUnsupportedDTypes)) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: tensor '%s' has dtype %s, which mneme does not support (supported: F32, F16, BF16)",
        path, name, dtype));
  } else {
    return invalid(absl::StrFormat("unknown dtype \"%s\"", dtype));
  }

  // shape
  it = v.find("shape");
  if (it == v.end()) return invalid("missing \"shape\"");
  if (!it->is_array()) return invalid("\"shape\" is not an array");
  uint64_t numel = 1;
  info->shape.clear();
  info->shape.reserve(it->size());
  for (const json& d : *it) {
    uint64_t dim;
    if (!GetNonNegative(d, &dim)) {
      return invalid(absl::StrFormat("shape %s has a dimension that is not a non-negative integer",
                                     DumpJson(*it)));
    }
    if (dim != 0 && numel > kMaxInt64 / dim) {
      return invalid(absl::StrFormat("shape %s overflows the element count", DumpJson(*it)));
    }
    numel *= dim;
    info->shape.push_back(static_cast<int64_t>(dim));
  }
  const uint64_t elem = DTypeSize(info->dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / elem) {
    return invalid(absl::StrFormat("shape %s overflows the byte count", DumpJson(*it)));
  }
  const uint64_t nbytes = numel * elem;

  // data_offsets
  it = v.find("data_offsets");
  if (it == v.end()) return invalid("missing \"data_offsets\"");
  uint64_t begin = 0, end = 0;
  if (!it->is_array() || it->size() != 2 || !GetNonNegative((*it)[0], &begin) ||
      !GetNonNegative((*it)[1], &end)) {
    return invalid(absl::StrFormat("\"data_offsets\" %s is not a pair of non-negative integers",
                                   DumpJson(*it)));
  }
  if (begin > end) {
    return invalid(absl::StrFormat("data_offsets [%d, %d] are reversed (begin > end)", begin, end));
  }
  if (end - begin != nbytes) {
    return invalid(absl::StrFormat(
        "data_offsets [%d, %d] span %d bytes but dtype %s with shape %s needs %d bytes", begin, end,
        end - begin, DTypeName(info->dtype), ShapeString(info->shape), nbytes));
  }
  if (end > data_size) {
    return absl::DataLossError(absl::StrFormat(
        "%s: tensor '%s': data_offsets [%d, %d] run past the end of the data section (%d bytes); "
        "is the file truncated?",
        path, name, begin, end, data_size));
  }
  info->nbytes = static_cast<size_t>(nbytes);
  *range = Range{begin, end, 0};
  return absl::OkStatus();
}

absl::Status ParseMetadata(const std::string& path, const json& v,
                           std::map<std::string, std::string>* out) {
  if (v.is_null()) return absl::OkStatus();
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: \"__metadata__\" is not a JSON object", path));
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: \"__metadata__\" value for key '%s' is not a string", path, it.key()));
    }
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  MNEME_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  const uint64_t file_size = mapped->size();
  if (file_size < 8) {
    return absl::DataLossError(
        absl::StrFormat("%s: file is %d bytes, shorter than the 8-byte safetensors header length",
                        path, file_size));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | mapped->data()[i];
  if (header_len < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: safetensors header length %d is too small (minimum 2)", path, header_len));
  }
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: safetensors header length %d exceeds the 100 MiB limit", path, header_len));
  }
  if (header_len > file_size - 8) {
    return absl::DataLossError(absl::StrFormat(
        "%s: safetensors header length %d is larger than the %d bytes after the length prefix; "
        "is the file truncated?",
        path, header_len, file_size - 8));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(mapped->data() + 8),
                                     static_cast<size_t>(header_len));
  MNEME_ASSIGN_OR_RETURN(json header, ParseHeaderJson(header_text, path));
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: safetensors header is not a JSON object", path));
  }

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(std::move(mapped)));
  const uint8_t* data_start = file->file_->data() + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      MNEME_RETURN_IF_ERROR(ParseMetadata(path, it.value(), &file->metadata_));
      continue;
    }
    TensorInfo info;
    Range range;
    MNEME_RETURN_IF_ERROR(ParseTensorEntry(path, it.key(), it.value(), data_size, &info, &range));
    info.data = data_start + range.begin;
    range.tensor = file->tensors_.size();
    if (range.end > range.begin) ranges.push_back(range);
    if (!file->index_.emplace(info.name, file->tensors_.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: duplicate tensor name '%s'", path, info.name));
    }
    file->tensors_.push_back(std::move(info));
  }

  // No two non-empty byte ranges may overlap.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Range* furthest = nullptr;  // the range seen so far that ends last
  for (const Range& r : ranges) {
    if (furthest != nullptr && r.begin < furthest->end) {
      const TensorInfo& a = file->tensors_[furthest->tensor];
      const TensorInfo& b = file->tensors_[r.tensor];
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensors '%s' (bytes [%d, %d)) and '%s' (bytes [%d, %d)) overlap",
                          path, a.name, furthest->begin, furthest->end, b.name, r.begin, r.end));
    }
    if (furthest == nullptr || r.end > furthest->end) furthest = &r;
  }
  return file;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace mneme::model
