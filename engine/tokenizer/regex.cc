#include "engine/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_format.h"

namespace mneme::tokenizer {
namespace {

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  const int len = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (len < 0) return absl::StrFormat("PCRE2 error %d", code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(len));
}

// Oniguruma's Unicode \w (checked against HF tokenizers 0.23.2): no Join_Control, all of N.
constexpr std::string_view kWordClass = R"(\p{Alphabetic}\p{M}\p{N}\p{Pc})";
constexpr std::string_view kHexClass = "0-9a-fA-F";

}  // namespace

absl::StatusOr<std::string> TranslateOnigurumaPattern(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      i += 2;
      switch (e) {
        case 's':
          out += "\\p{White_Space}";
          break;
        case 'S':
          out += "\\P{White_Space}";
          break;
        case 'w':
        case 'h': {
          const std::string_view cls = e == 'w' ? kWordClass : kHexClass;
          out += in_class ? std::string(cls) : "[" + std::string(cls) + "]";
          break;
        }
        case 'W':
        case 'H':
          if (in_class) {
            return absl::UnimplementedError(absl::StrFormat(
                "regex \"%s\": \\%c inside a character class is not supported", pattern, e));
          }
          out += "[^" + std::string(e == 'W' ? kWordClass : kHexClass) + "]";
          break;
        case 'b':
        case 'B': {
          if (in_class) {  // backspace inside a class
            out += c;
            out += e;
            break;
          }
          const std::string w = "[" + std::string(kWordClass) + "]";
          out += e == 'b' ? "(?:(?<=" + w + ")(?!" + w + ")|(?<!" + w + ")(?=" + w + "))"
                          : "(?:(?<=" + w + ")(?=" + w + ")|(?<!" + w + ")(?!" + w + "))";
          break;
        }
        case 'Q': {  // literal section up to \E
          const size_t end = pattern.find("\\E", i);
          const size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
          out += "\\Q";
          out.append(pattern.substr(i, stop - i));
          i = stop;
          break;
        }
        default:
          out += c;
          out += e;
      }
      continue;
    }
    out += c;
    ++i;
    if (!in_class && c == '[') {
      in_class = true;
      if (i < pattern.size() && pattern[i] == '^') out += pattern[i++];
      if (i < pattern.size() && pattern[i] == ']') out += pattern[i++];  // a literal ']'
    } else if (in_class && c == '[' && i < pattern.size() && pattern[i] == ':') {
      const size_t end = pattern.find(":]", i);  // POSIX class such as [:alpha:]
      if (end != std::string_view::npos) {
        out.append(pattern.substr(i, end + 2 - i));
        i = end + 2;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

RegexMatchState::RegexMatchState() : data_(pcre2_match_data_create(1, nullptr)) {}

RegexMatchState::~RegexMatchState() { pcre2_match_data_free(data_); }

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern, bool literal) {
  // PCRE2_LITERAL admits PCRE2_UTF but not PCRE2_UCP (which only affects classes anyway).
  const uint32_t options = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
  std::string translated(pattern);
  if (!literal) {
    absl::StatusOr<std::string> t = TranslateOnigurumaPattern(pattern);
    if (!t.ok()) return t.status();
    translated = *std::move(t);
  }
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()),
                                   translated.size(), options, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("regex \"%s\" does not compile (as PCRE2 \"%s\", offset %d): %s", pattern,
                        translated, error_offset, Pcre2Message(error_code)));
  }
  // JIT is an optimisation only: when unavailable pcre2_match interprets the pattern.
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Regex>(new Regex(std::string(pattern), code, jit));
}

Regex::~Regex() { pcre2_code_free(code_); }

absl::StatusOr<bool> Regex::Search(std::string_view subject, size_t start, RegexMatchState* state,
                                   size_t* begin, size_t* end) const {
  if (state->data_ == nullptr) return absl::ResourceExhaustedError("out of memory for PCRE2");
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc =
      pcre2_match(code_, text, subject.size(), start, PCRE2_NO_UTF_CHECK, state->data_, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // The JIT's default 32 KiB stack is too small for this subject: the interpreter keeps its
    // backtracking state on the heap instead.
    rc = pcre2_match(code_, text, subject.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                     state->data_, nullptr);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
      rc == PCRE2_ERROR_NOMEMORY) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "regex \"%s\" on a %d-byte piece: %s", pattern_, subject.size(), Pcre2Message(rc)));
  }
  if (rc < 0) {
    return absl::InternalError(absl::StrFormat("regex \"%s\": %s", pattern_, Pcre2Message(rc)));
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state->data_);
  *begin = ovector[0];
  *end = ovector[1];
  return true;
}

absl::Status Regex::FindAll(std::string_view subject, RegexMatchState* state,
                            std::vector<std::pair<size_t, size_t>>* matches) const {
  matches->clear();
  size_t last_end = 0;
  bool have_last_match = false;
  size_t last_match_end = 0;
  while (last_end <= subject.size()) {
    size_t begin = 0;
    size_t end = 0;
    absl::StatusOr<bool> found = Search(subject, last_end, state, &begin, &end);
    if (!found.ok()) return found.status();
    if (!*found) break;
    if (begin == end && have_last_match && last_match_end == end) {
      // An empty match right where the previous match ended: step over one character.
      if (last_end >= subject.size()) break;
      ++last_end;
      while (last_end < subject.size() && (static_cast<uint8_t>(subject[last_end]) & 0xC0) == 0x80)
        ++last_end;
      continue;
    }
    last_end = end;
    last_match_end = end;
    have_last_match = true;
    matches->emplace_back(begin, end);
  }
  return absl::OkStatus();
}

}  // namespace mneme::tokenizer
