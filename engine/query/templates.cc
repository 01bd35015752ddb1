#include "engine/query/templates.h"

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::query {

std::string DocumentText(int64_t ordinal, std::string_view text) {
  return absl::StrFormat("<|im_start|>[%d]. %s[%d]<|im_end|>", ordinal, text, ordinal);
}

std::string PromptText(std::string_view question) {
  return absl::StrFormat(
      "\nPlease answer the question based on the above historical document information\n\n%s"
      "\nPlease return all documents related to the question\n",
      question);
}

std::string InjectedText(int64_t ordinal, std::string_view text) {
  return absl::StrFormat("[%d]. %s\n", ordinal, text);
}

std::string QuestionReminderText(std::string_view question) {
  return absl::StrFormat("<|im_start|>The user's question is: %s\n<|object_ref_end|>", question);
}

absl::StatusOr<SpecialIds> SpecialIds::From(const tokenizer::Tokenizer& tok) {
  SpecialIds s{};
  const std::pair<const char*, int32_t*> need[] = {{"<|im_start|>", &s.im_start},
                                                   {"<|im_end|>", &s.im_end},
                                                   {"<|object_ref_end|>", &s.object_ref_end},
                                                   {"<End-of-Retrieve>", &s.end_of_retrieve}};
  for (const auto& [name, out] : need) {
    std::optional<int32_t> id = tok.TokenToId(name);
    if (!id) return absl::InvalidArgumentError(absl::StrFormat("the tokenizer has no %s token, which MSA needs", name));
    *out = *id;
  }
  return s;
}

absl::StatusOr<QueryTokens> TokenizeQuery(const tokenizer::Tokenizer& tok, std::string_view question) {
  QueryTokens q;
  MNEME_ASSIGN_OR_RETURN(q.ids, tok.Encode(PromptText(question)));
  q.prompt_tokens = static_cast<int64_t>(q.ids.size());
  for (const char* part : {kQueryTail, kResponseHead}) {
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok.Encode(part));
    q.ids.insert(q.ids.end(), ids.begin(), ids.end());
  }
  return q;
}

std::vector<int64_t> ParseDocumentIds(std::string_view text) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '[') continue;
    size_t j = i + 1;
    int64_t v = 0;
    bool overflow = false;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      if (v > (INT64_MAX - 9) / 10) overflow = true;
      if (!overflow) v = v * 10 + (text[j] - '0');
      ++j;
    }
    if (j > i + 1 && j < text.size() && text[j] == ']') {
      out.push_back(overflow ? -1 : v);
      i = j;
    }
  }
  return out;
}

}  // namespace mneme::query
