// Parsing and validation of a Hugging Face tokenizer.json into a plain description of the
// byte-level BPE pipeline mneme supports. Only this file's .cc sees nlohmann::json.
//
// Supported (anything else is Unimplemented, naming the source and the JSON type):
//   normalizer      null, NFC, or a Sequence of those;
//   pre_tokenizer   ByteLevel, or a Sequence of Split(Regex|String pattern, Isolated,
//                   invert false) steps ending with ByteLevel;
//   model           BPE (dropout null/0, no continuing_subword_prefix / end_of_word_suffix),
//                   merges as "a b" strings or ["a", "b"] pairs;
//   decoder         ByteLevel;  post_processor  null or ByteLevel;  truncation, padding  null.
#ifndef MNEME_ENGINE_TOKENIZER_TOKENIZER_JSON_H_
#define MNEME_ENGINE_TOKENIZER_TOKENIZER_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"

namespace mneme::tokenizer {

struct PreTokenizerStepSpec {
  enum class Kind { kPrefixSpace, kRegexSplit };
  Kind kind = Kind::kRegexSplit;
  std::string pattern;   // kRegexSplit only
  bool literal = false;  // kRegexSplit only: a {"String": ...} pattern
};

struct TokenizerSpec {
  bool nfc = false;
  std::vector<PreTokenizerStepSpec> pre_tokenizer;  // the ByteLevel mapping follows implicitly
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  BpeOptions bpe;
  std::vector<AddedTokenSpec> added_tokens;
};

// Parses `json_text`. Every error message starts with `source_name`: InvalidArgument for
// malformed JSON or fields of the wrong shape (missing model / vocab / merges, bad merge
// strings, ...), Unimplemented for valid tokenizer.json features mneme does not support.
[[nodiscard]] absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view json_text,
                                                               std::string_view source_name);

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_TOKENIZER_JSON_H_
