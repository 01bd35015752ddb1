// The BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE", ...}), with the same
// merge semantics as `tokenizers`' Word::merge_all: repeatedly apply the lowest-rank merge among
// adjacent symbol pairs (leftmost first on ties), using a binary heap over a doubly linked list
// of symbols, O(n log n) per word.
//
// Thread safety: immutable after Create; each concurrent caller needs its own Scratch.
#ifndef MNEME_ENGINE_TOKENIZER_BPE_MODEL_H_
#define MNEME_ENGINE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace mneme::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;  // emitted for characters not in the vocabulary
  bool fuse_unk = false;                 // consecutive unknowns become one unk token
  bool byte_fallback = false;            // unknown characters become <0xXX> byte tokens
  bool ignore_merges = false;            // a word that is itself in the vocabulary is one token
};

class BpeModel {
 public:
  // Per-call working memory of Tokenize; reuse it to avoid allocations.
  class Scratch {
   private:
    friend class BpeModel;
    struct Symbol {
      int32_t id;
      int32_t prev;
      int32_t next;
      int32_t len;  // bytes of the word covered; 0 marks a symbol merged into its left neighbour
    };
    struct Merge {
      int32_t pos;
      int32_t rank;
      int32_t new_id;
    };
    std::vector<Symbol> symbols_;
    std::vector<Merge> heap_;
  };

  // Builds the model. `merges` are in rank order (rank = index); a pair listed twice keeps the
  // later rank, as HF does. Errors (InvalidArgument): a negative id, two tokens sharing an id, a
  // merge whose parts or concatenation are not in the vocabulary, an unk_token not in it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

  // Appends the ids of `word` (one pre-tokenized, byte-level-mapped piece) to `*ids`.
  // Characters missing from the vocabulary become byte-fallback tokens, the unk token, or are
  // dropped (no unk_token), as in HF.
  void Tokenize(std::string_view word, Scratch* scratch, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr if no token has `id`.
  const std::string* IdToToken(int32_t id) const;

  // Number of vocabulary entries (HF's BPE::get_vocab_size) and the largest id (-1 if empty).
  size_t vocab_entries() const { return token_to_id_.size(); }
  int32_t max_id() const { return max_id_; }
  size_t num_merges() const { return merges_.size(); }

 private:
  struct MergeInfo {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const MergeInfo* FindMerge(int32_t a, int32_t b) const;
  void MergeAll(Scratch* scratch) const;

  BpeModel() = default;

  BpeOptions options_;
  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  absl::flat_hash_map<int32_t, std::string> id_to_token_;
  absl::flat_hash_map<uint64_t, MergeInfo> merges_;
  std::array<int32_t, 512> small_char_ids_{};  // id of the one-character token U+0000..U+01FF
  std::array<int32_t, 256> byte_fallback_ids_{};
  int32_t unk_id_ = -1;
  int32_t max_id_ = -1;
};

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_BPE_MODEL_H_
