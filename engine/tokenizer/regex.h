// A compiled PCRE2 pattern (UTF + UCP, JIT-compiled when the library supports it) that iterates
// matches exactly like the `onig` crate's `find_iter`, which Hugging Face `tokenizers` uses for
// Split pre-tokenizers. PCRE2 types stay out of this header.
//
// Thread safety: a Regex is immutable after Compile and may be shared; each thread (or call)
// needs its own RegexMatchState.
#ifndef MNEME_ENGINE_TOKENIZER_REGEX_H_
#define MNEME_ENGINE_TOKENIZER_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

namespace mneme::tokenizer {

// Scratch space for matching (PCRE2 match data). Cheap to create; reuse it across calls.
class RegexMatchState {
 public:
  RegexMatchState();
  ~RegexMatchState();
  RegexMatchState(const RegexMatchState&) = delete;
  RegexMatchState& operator=(const RegexMatchState&) = delete;

 private:
  friend class Regex;
  pcre2_real_match_data_8* data_;
};

// Rewrites the escapes whose meaning differs between Oniguruma (which HF uses) and PCRE2 with
// UCP, so that the PCRE2 pattern matches the same characters:
//   \s \S  Onig: Unicode White_Space (PCRE2's \s also has U+180E)  -> \p{White_Space}, \P{..}
//   \w \W  Onig: Alphabetic, marks, numbers, connector punctuation (PCRE2: L, N, _)
//   \h \H  Onig: hexadecimal digit (PCRE2: horizontal space)
//   \b \B  word boundaries over Onig's \w (outside classes)
// Everything else, including \Q...\E sections, is copied. Unimplemented for a negated class
// escape (\W, \H) inside a [...] class, which PCRE2 cannot express there.
[[nodiscard]] absl::StatusOr<std::string> TranslateOnigurumaPattern(std::string_view pattern);

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax, see TranslateOnigurumaPattern); with `literal` the
  // pattern matches itself verbatim (HF's `{"String": ...}` split pattern). InvalidArgument with
  // PCRE2's message and the offset if the pattern does not compile.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern,
                                                                      bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Replaces `*matches` with the [begin, end) byte ranges of the successive matches in
  // `subject`, which must be valid UTF-8. Like onig's find_iter: after a match ending at e the
  // search resumes at e, and an empty match at the position where the previous match ended is
  // skipped by advancing one character. Lookaround cannot see outside `subject`.
  // ResourceExhausted if PCRE2 hits its match or heap limit, Internal on other PCRE2 errors.
  absl::Status FindAll(std::string_view subject, RegexMatchState* state,
                       std::vector<std::pair<size_t, size_t>>* matches) const;

  const std::string& pattern() const { return pattern_; }
  bool jit_compiled() const { return jit_; }

 private:
  Regex(std::string pattern, pcre2_real_code_8* code, bool jit)
      : pattern_(std::move(pattern)), code_(code), jit_(jit) {}

  // One search from `start`; false if there is no match.
  absl::StatusOr<bool> Search(std::string_view subject, size_t start, RegexMatchState* state,
                              size_t* begin, size_t* end) const;

  std::string pattern_;
  pcre2_real_code_8* code_;
  bool jit_;
};

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_REGEX_H_
