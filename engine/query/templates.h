// The MSA text templates (docs/msa.md), as the reference builds them, and their token layout.
#ifndef MNEME_ENGINE_QUERY_TEMPLATES_H_
#define MNEME_ENGINE_QUERY_TEMPLATES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace mneme::query {

inline constexpr char kTemplatePrefix[] = "<|im_start|>user\n";
inline constexpr char kQueryTail[] = "<|im_end|>\n";
inline constexpr char kResponseHead[] = "<|im_start|>";
inline constexpr char kAnswerPhrase[] = "The answer to the question is:";

// "<|im_start|>[i]. " + text + "[i]<|im_end|>"
std::string DocumentText(int64_t ordinal, std::string_view text);
// The instruction + question block whose tokens route.
std::string PromptText(std::string_view question);
// "[i]. " + text + "\n": one injected document.
std::string InjectedText(int64_t ordinal, std::string_view text);
// What follows <End-of-Retrieve>.
std::string QuestionReminderText(std::string_view question);

// Ids of the special tokens MSA's control flow needs; InvalidArgument naming any the tokenizer
// lacks.
struct SpecialIds {
  int32_t im_start, im_end, object_ref_end, end_of_retrieve;
  static absl::StatusOr<SpecialIds> From(const tokenizer::Tokenizer& tok);
};

struct QueryTokens {
  std::vector<int32_t> ids;   // tok(prompt) ++ tok(tail) ++ tok(head)
  int64_t prompt_tokens = 0;  // the first prompt_tokens ids route
};
absl::StatusOr<QueryTokens> TokenizeQuery(const tokenizer::Tokenizer& tok, std::string_view question);

// Ordinals named as "[digits]" in `text`, in order of appearance (values too large for int64 are
// reported as -1).
std::vector<int64_t> ParseDocumentIds(std::string_view text);

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_TEMPLATES_H_
