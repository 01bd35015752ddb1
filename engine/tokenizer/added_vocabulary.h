// Added tokens ("added_tokens" in tokenizer.json): special and user tokens that are cut out of
// the text before normalisation / pre-tokenisation, as Hugging Face's AddedVocabulary does:
//   * ids are assigned like HF's add_tokens (the id in the file is only advisory there too): a
//     token already in the model vocabulary keeps that id, others get consecutive ids starting
//     at the model's vocabulary size;
//   * matching is leftmost-longest over the token contents, resuming after each match;
//   * non-`normalized` tokens are matched in the raw text, `normalized` ones (their content
//     NFC-normalised when the tokenizer normalises) in each normalised gap;
//   * `single_word` tokens only match between non-word characters; `lstrip` / `rstrip` swallow
//     the whitespace on their left / right.
//
// Thread safety: immutable after Build; safe to share.
#ifndef MNEME_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
#define MNEME_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/bpe_model.h"

namespace mneme::tokenizer {

struct AddedTokenSpec {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A piece of text after added-token extraction: [begin, end) bytes, and the added token's id or
// -1 for plain text still to be tokenized.
struct AddedSegment {
  size_t begin;
  size_t end;
  int32_t id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;

  // Registers `tokens` in order (empty contents are ignored). `nfc`: whether the tokenizer's
  // normalizer is NFC (normalized tokens are then matched by their NFC form).
  [[nodiscard]] static absl::StatusOr<AddedVocabulary> Build(
      const std::vector<AddedTokenSpec>& tokens, const BpeModel& model, bool nfc);

  // Replaces `*out` with the segmentation of `text` (valid UTF-8) by the non-normalized
  // (`normalized_set` false) or normalized tokens. An empty text gives one empty plain segment;
  // the segments of HF's find_matches are reproduced exactly, including its quirks.
  void FindMatches(std::string_view text, bool normalized_set,
                   std::vector<AddedSegment>* out) const;

  std::optional<int32_t> TokenToId(std::string_view content) const;
  // The token's text as HF's decoder sees it (NFC form for normalized tokens), or nullptr.
  const std::string* IdToToken(int32_t id) const;
  bool IsSpecial(int32_t id) const;
  bool empty() const { return by_id_.empty(); }
  int32_t max_id() const { return max_id_; }

 private:
  struct Entry {
    AddedTokenSpec spec;
    std::string text;  // what is matched and decoded: content, or its NFC form if normalized
  };

  // A byte trie over token texts for leftmost-longest search.
  class Trie {
   public:
    Trie();
    void Insert(std::string_view key, int32_t value);
    bool empty() const { return nodes_.size() == 1; }
    // Leftmost-longest match at or after `from`; false if none.
    bool Find(std::string_view text, size_t from, size_t* begin, size_t* end, int32_t* value) const;

   private:
    struct Node {
      std::vector<std::pair<uint8_t, int32_t>> children;
      int32_t value = -1;
    };
    int32_t Child(int32_t node, uint8_t byte) const;
    std::vector<Node> nodes_;
    std::array<bool, 256> first_byte_{};
  };

  absl::flat_hash_map<std::string, int32_t> by_content_;
  absl::flat_hash_map<int32_t, Entry> by_id_;
  absl::flat_hash_set<std::string> special_contents_;
  Trie raw_trie_;
  Trie normalized_trie_;
  int32_t max_id_ = -1;
};

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
