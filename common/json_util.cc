#include "common/json_util.h"

#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace mneme {

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: malformed JSON at byte %d: %s", source, e.byte, e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: malformed JSON: %s", source, e.what()));
  }
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadFileToString(path, max_bytes);
  if (!text.ok()) return text.status();
  return ParseJson(*text, path);
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mneme
