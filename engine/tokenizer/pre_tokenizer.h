// The pre-tokenizer pipeline of a byte-level BPE tokenizer.json: an ordered list of steps applied
// to every piece produced by the previous step, exactly as Hugging Face's PreTokenizedString
// does it:
//   Split(pattern, behavior=Isolated)  matches and the gaps between them both become pieces;
//   ByteLevel(add_prefix_space)        prepends ' ' to a piece that does not start with one;
//   ByteLevel(use_regex)               a Split with the GPT-2 pattern.
// Empty pieces are dropped. The ByteLevel byte->char mapping itself is applied by the caller to
// each final piece (see byte_level.h).
//
// Thread safety: immutable after construction; each concurrent caller needs its own Scratch.
#ifndef MNEME_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define MNEME_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/regex.h"

namespace mneme::tokenizer {

// The regex of HF's ByteLevel pre-tokenizer with use_regex = true (GPT-2).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The Split regex of the Qwen2 / Qwen3 tokenizers.
inline constexpr std::string_view kQwenSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|)"
    R"(\s*[\r\n]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  // Per-call working memory; reuse it to avoid allocations.
  class Scratch {
   private:
    friend class PreTokenizer;
    RegexMatchState match_;
    std::vector<std::string> buffers_;  // one per prefix-space step
    std::vector<std::string_view> next_;
    std::vector<std::pair<size_t, size_t>> matches_;
  };

  PreTokenizer() = default;
  PreTokenizer(PreTokenizer&&) = default;
  PreTokenizer& operator=(PreTokenizer&&) = default;

  // Appends a step that prepends ' ' to every piece not starting with one.
  void AddPrefixSpace();
  // Appends a Split step with behaviour Isolated.
  void AddSplit(std::unique_ptr<Regex> regex);

  size_t num_steps() const { return steps_.size(); }

  // Replaces `*pieces` with the non-empty pieces of `text` (valid UTF-8). The views point into
  // `text` or into `scratch` and stay valid until `scratch` is used again. Errors come from the
  // regex engine (see Regex::FindAll).
  absl::Status Split(std::string_view text, Scratch* scratch,
                     std::vector<std::string_view>* pieces) const;

 private:
  struct Step {
    std::unique_ptr<Regex> regex;  // null: a prefix-space step
  };
  std::vector<Step> steps_;
};

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
