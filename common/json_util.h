// The boundary where nlohmann::json's exceptions become absl::Status. Include only from .cc
// files: the JSON header is heavy.
#ifndef MNEME_COMMON_JSON_UTIL_H_
#define MNEME_COMMON_JSON_UTIL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mneme {

// Parses `text` as JSON. On a syntax error returns InvalidArgument naming `source` (a file
// name or description) and the byte offset.
[[nodiscard]] absl::StatusOr<nlohmann::json> ParseJson(std::string_view text,
                                                       std::string_view source);

// Reads and parses a JSON file (at most `max_bytes`).
[[nodiscard]] absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path,
                                                          size_t max_bytes = size_t{256} << 20);

// Serialises with invalid UTF-8 replaced by U+FFFD (never throws).
std::string DumpJson(const nlohmann::json& j, int indent = -1);

}  // namespace mneme

#endif  // MNEME_COMMON_JSON_UTIL_H_
