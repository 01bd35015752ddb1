#include "engine/tokenizer/pre_tokenizer.h"

namespace mneme::tokenizer {

void PreTokenizer::AddPrefixSpace() { steps_.push_back(Step{nullptr}); }

void PreTokenizer::AddSplit(std::unique_ptr<Regex> regex) {
  steps_.push_back(Step{std::move(regex)});
}

absl::Status PreTokenizer::Split(std::string_view text, Scratch* scratch,
                                 std::vector<std::string_view>* pieces) const {
  pieces->clear();
  if (text.empty()) return absl::OkStatus();
  pieces->push_back(text);
  scratch->buffers_.resize(steps_.size());
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    std::vector<std::string_view>& next = scratch->next_;
    next.clear();
    if (step.regex == nullptr) {
      // Prefix space. Earlier views may point into other buffers, never into this one.
      std::string& buffer = scratch->buffers_[s];
      size_t needed = 0;
      for (std::string_view piece : *pieces) needed += piece.size() + 1;
      buffer.clear();
      buffer.reserve(needed);  // no reallocation below, so views into `buffer` stay valid
      for (std::string_view piece : *pieces) {
        if (piece.front() == ' ') {
          next.push_back(piece);
          continue;
        }
        const size_t start = buffer.size();
        buffer.push_back(' ');
        buffer.append(piece);
        next.emplace_back(buffer.data() + start, piece.size() + 1);
      }
    } else {
      for (std::string_view piece : *pieces) {
        absl::Status status = step.regex->FindAll(piece, &scratch->match_, &scratch->matches_);
        if (!status.ok()) return status;
        size_t prev = 0;
        for (const auto& [begin, end] : scratch->matches_) {
          if (prev < begin) next.push_back(piece.substr(prev, begin - prev));
          if (begin < end) next.push_back(piece.substr(begin, end - begin));
          prev = end;
        }
        if (prev < piece.size()) next.push_back(piece.substr(prev));
      }
    }
    pieces->swap(next);
  }
  return absl::OkStatus();
}

}  // namespace mneme::tokenizer
