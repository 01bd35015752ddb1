// A Hugging Face `tokenizers` byte-level BPE tokenizer loaded from tokenizer.json (the kind
// Qwen2 / Qwen3 ship), producing exactly the ids HF produces.
//
// Encode pipeline (as HF's TokenizerImpl::encode with add_special_tokens, post-processor
// ByteLevel adding nothing):
//   1. cut non-normalized added tokens (e.g. <|im_end|>) out of the raw text (leftmost-longest);
//   2. NFC-normalise each remaining gap (if the normalizer says so) and cut normalized added
//      tokens out of it;
//   3. pre-tokenize each gap (Split regex / ByteLevel prefix space and regex), map every piece's
//      bytes to GPT-2 characters and run BPE on it.
// Decode: ids -> token strings -> ByteLevel bytes -> UTF-8 with U+FFFD for invalid sequences.
//
// Thread safety: a Tokenizer is immutable after loading; all methods are const and it is safe
// to share between threads.
#ifndef MNEME_ENGINE_TOKENIZER_TOKENIZER_H_
#define MNEME_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::tokenizer {

class AddedVocabulary;
class BpeModel;
class PreTokenizer;

class Tokenizer {
 public:
  // Loads tokenizer.json from `path`. Errors name the file and the problem:
  //   NotFound / PermissionDenied  the file cannot be read;
  //   InvalidArgument              malformed JSON, missing model / vocab / merges, fields of the
  //                                wrong type, merges naming unknown tokens, regex that does not
  //                                compile;
  //   Unimplemented                valid tokenizer.json features mneme does not support (model
  //                                type other than BPE, other normalizer / pre_tokenizer /
  //                                decoder / post_processor types, Split behaviours other than
  //                                Isolated, BPE dropout, truncation, padding, \W or \H inside
  //                                a regex character class).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  // Same, from the JSON text; `source_name` prefixes error messages.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      std::string_view json_text, std::string_view source_name);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`. Added / special tokens occurring in the text are matched first and
  // become their single ids, as HF does. InvalidArgument if `text` is not valid UTF-8;
  // ResourceExhausted if the split regex exceeds PCRE2's limits on a pathological piece.
  [[nodiscard]] absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;

  // Text of `ids`, special tokens included (HF decode with skip_special_tokens=false). Invalid
  // UTF-8 byte sequences become U+FFFD like Rust's from_utf8_lossy. InvalidArgument on an id
  // that names no token, unless skip_unknown: then such ids (a checkpoint's padded embedding
  // rows past the tokenizer's vocabulary) contribute no text, as HF's decode does.
  [[nodiscard]] absl::StatusOr<std::string> Decode(const std::vector<int32_t>& ids,
                                                   bool skip_unknown = false) const;

  // Id of a vocabulary or added token (added tokens take precedence, as in HF).
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // Token string of `id` (byte-level form for vocabulary tokens), or nullopt.
  std::optional<std::string> IdToToken(int32_t id) const;
  // Largest id over the vocabulary and added tokens, plus one.
  int32_t vocab_size() const { return vocab_size_; }
  // True for added tokens registered as special.
  bool IsSpecial(int32_t id) const;

 private:
  Tokenizer();

  // Encodes one normalised gap that contains no added tokens, appending to `ids`.
  struct Scratch;
  absl::Status EncodePlain(std::string_view text, Scratch* scratch,
                           std::vector<int32_t>* ids) const;

  bool nfc_ = false;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<AddedVocabulary> added_;
  int32_t vocab_size_ = 0;
};

// Builds a small byte-level BPE tokenizer.json text with the structure of Qwen's (NFC
// normalizer, Qwen Split regex + ByteLevel pre-tokenizer, ByteLevel decoder and post-processor):
// the 256 byte symbols (ids 0..255 in code point order of their GPT-2 characters), then up to
// `num_merges` merges learned by plain BPE training on `corpus` (pre-tokenized the same way,
// with occurrences of `special_tokens` cut out; the most frequent adjacent pair is merged first,
// ties going to the pair of smallest (left id, right id); training stops early when no pair is
// left), then `special_tokens` as special, non-normalized added tokens. Used by
// `mneme model init`. InvalidArgument if num_merges < 0, if the corpus or a special token is not
// valid UTF-8, or if a special token is empty or repeated.
[[nodiscard]] absl::StatusOr<std::string> BuildByteLevelBpeJson(
    const std::vector<std::string>& corpus, int num_merges,
    const std::vector<std::string>& special_tokens);

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_TOKENIZER_H_
