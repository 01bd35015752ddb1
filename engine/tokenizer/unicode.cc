#include "engine/tokenizer/unicode.h"

#include <cstdint>
#include <cstdlib>

#include "utf8proc.h"

namespace mneme::tokenizer {
namespace {

constexpr bool IsCont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Length of the longest valid prefix of the sequence starting at `s[i]` when it is ill-formed,
// or 0 when a complete, well-formed sequence starts there (its length is then in *len).
// This is the decision procedure of Rust's core::str::Utf8Chunks.
size_t CheckSequence(const uint8_t* s, size_t n, size_t i, size_t* len) {
  const uint8_t b0 = s[i];
  if (b0 < 0x80) {
    *len = 1;
    return 0;
  }
  auto at = [&](size_t k) -> int { return i + k < n ? s[i + k] : -1; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    const int b1 = at(1);
    if (b1 < 0 || !IsCont(static_cast<uint8_t>(b1))) return 1;
    *len = 2;
    return 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const int b1 = at(1);
    bool ok1 = false;
    if (b1 >= 0) {
      if (b0 == 0xE0) {
        ok1 = b1 >= 0xA0 && b1 <= 0xBF;
      } else if (b0 == 0xED) {
        ok1 = b1 >= 0x80 && b1 <= 0x9F;
      } else {
        ok1 = b1 >= 0x80 && b1 <= 0xBF;
      }
    }
    if (!ok1) return 1;
    const int b2 = at(2);
    if (b2 < 0 || !IsCont(static_cast<uint8_t>(b2))) return 2;
    *len = 3;
    return 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const int b1 = at(1);
    bool ok1 = false;
    if (b1 >= 0) {
      if (b0 == 0xF0) {
        ok1 = b1 >= 0x90 && b1 <= 0xBF;
      } else if (b0 == 0xF4) {
        ok1 = b1 >= 0x80 && b1 <= 0x8F;
      } else {
        ok1 = b1 >= 0x80 && b1 <= 0xBF;
      }
    }
    if (!ok1) return 1;
    const int b2 = at(2);
    if (b2 < 0 || !IsCont(static_cast<uint8_t>(b2))) return 2;
    const int b3 = at(3);
    if (b3 < 0 || !IsCont(static_cast<uint8_t>(b3))) return 3;
    *len = 4;
    return 0;
  }
  return 1;  // 0x80..0xC1 or 0xF5..0xFF can never start a sequence
}

}  // namespace

size_t FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    if (CheckSequence(s, n, i, &len) != 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

char32_t DecodeUtf8At(std::string_view text, size_t* pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data()) + *pos;
  const uint8_t b0 = s[0];
  if (b0 < 0x80) {
    *pos += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    *pos += 2;
    return (static_cast<char32_t>(b0 & 0x1F) << 6) | (s[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    *pos += 3;
    return (static_cast<char32_t>(b0 & 0x0F) << 12) | (static_cast<char32_t>(s[1] & 0x3F) << 6) |
           (s[2] & 0x3F);
  }
  *pos += 4;
  return (static_cast<char32_t>(b0 & 0x07) << 18) | (static_cast<char32_t>(s[1] & 0x3F) << 12) |
         (static_cast<char32_t>(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

char32_t LastCodePoint(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && IsCont(static_cast<uint8_t>(text[start]))) --start;
  return DecodeUtf8At(text, &start);
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void AppendUtf8Lossy(std::string_view bytes, std::string* out) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  out->reserve(out->size() + n);
  size_t i = 0;
  size_t valid_start = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    const size_t bad = CheckSequence(s, n, i, &len);
    if (bad == 0) {
      i += len;
      continue;
    }
    out->append(bytes.substr(valid_start, i - valid_start));
    out->append(kReplacement);
    i += bad;
    valid_start = i;
  }
  out->append(bytes.substr(valid_start));
}

bool IsTriviallyNfc(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const char32_t cp = DecodeUtf8At(text, &i);
    const bool stable = cp < 0x300 || (cp >= 0x3041 && cp <= 0x3096) ||
                        (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
                        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x1F300 && cp <= 0x1FAFF);
    if (!stable) return false;
  }
  return true;
}

absl::Status AppendNfc(std::string_view text, std::string* out) {
  if (IsTriviallyNfc(text)) {
    out->append(text);
    return absl::OkStatus();
  }
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t len =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &result,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (len < 0) {
    std::free(result);
    return absl::InternalError(std::string("NFC normalisation failed: ") + utf8proc_errmsg(len));
  }
  out->append(reinterpret_cast<const char*>(result), static_cast<size_t>(len));
  std::free(result);
  return absl::OkStatus();
}

bool IsUnicodeWhiteSpace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsUnicodeWordChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  }
  if (cp == 0x200C || cp == 0x200D) return true;  // Join_Control
  if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
      (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189)) {
    return true;  // Other_Alphabetic symbols (circled / squared letters)
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

}  // namespace mneme::tokenizer
