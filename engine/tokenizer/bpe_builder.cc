// BuildByteLevelBpeJson (declared in tokenizer.h): pre-tokenizes a corpus exactly like the
// emitted tokenizer will, trains BPE on it and writes a Qwen-style tokenizer.json.
#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/tokenizer/bpe_trainer.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

namespace mneme::tokenizer {
namespace {

using OrderedJson = nlohmann::ordered_json;

// Splits `text` at occurrences of `specials` (leftmost, longest first) and calls `fn` on every
// non-empty gap.
template <typename Fn>
absl::Status ForEachGap(std::string_view text, const std::vector<std::string>& specials, Fn fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best_begin = std::string_view::npos;
    size_t best_len = 0;
    for (const std::string& s : specials) {
      const size_t at = text.find(s, pos);
      if (at == std::string_view::npos) continue;
      if (at < best_begin || (at == best_begin && s.size() > best_len)) {
        best_begin = at;
        best_len = s.size();
      }
    }
    const size_t gap_end = std::min(best_begin, text.size());
    if (gap_end > pos) MNEME_RETURN_IF_ERROR(fn(text.substr(pos, gap_end - pos)));
    if (best_begin == std::string_view::npos) break;
    pos = best_begin + best_len;
  }
  return absl::OkStatus();
}

OrderedJson ByteLevelJson(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  OrderedJson j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = add_prefix_space;
  j["trim_offsets"] = trim_offsets;
  j["use_regex"] = use_regex;
  return j;
}

}  // namespace

absl::StatusOr<std::string> BuildByteLevelBpeJson(const std::vector<std::string>& corpus,
                                                  int num_merges,
                                                  const std::vector<std::string>& special_tokens) {
  if (num_merges < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_merges must be >= 0, got %d", num_merges));
  }
  std::set<std::string> seen;
  for (const std::string& s : special_tokens) {
    if (s.empty()) return absl::InvalidArgumentError("special tokens must not be empty");
    if (FindInvalidUtf8(s) != std::string_view::npos) {
      return absl::InvalidArgumentError("a special token is not valid UTF-8");
    }
    if (!seen.insert(s).second) {
      return absl::InvalidArgumentError(absl::StrFormat("special token \"%s\" is repeated", s));
    }
  }

  // Count the pre-tokenized pieces of the corpus.
  MNEME_ASSIGN_OR_RETURN(std::unique_ptr<Regex> regex, Regex::Compile(kQwenSplitPattern, false));
  PreTokenizer pre_tokenizer;
  pre_tokenizer.AddSplit(std::move(regex));
  PreTokenizer::Scratch scratch;
  std::vector<std::string_view> pieces;
  std::string normalized;
  std::map<std::string, int64_t> piece_counts;  // ordered: deterministic input to training
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (const size_t bad = FindInvalidUtf8(corpus[i]); bad != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("corpus[%d] is not valid UTF-8 (byte %d)", i, bad));
    }
    MNEME_RETURN_IF_ERROR(ForEachGap(corpus[i], special_tokens, [&](std::string_view gap) {
      normalized.clear();
      MNEME_RETURN_IF_ERROR(AppendNfc(gap, &normalized));
      MNEME_RETURN_IF_ERROR(pre_tokenizer.Split(normalized, &scratch, &pieces));
      for (std::string_view piece : pieces) ++piece_counts[std::string(piece)];
      return absl::OkStatus();
    }));
  }
  const BpeTrainingResult trained = TrainByteLevelBpe(
      std::vector<std::pair<std::string, int64_t>>(piece_counts.begin(), piece_counts.end()),
      num_merges);

  // Tokens are unique, so append to the ordered map's vector directly (its operator[] and
  // find are linear scans, quadratic over a whole vocabulary).
  OrderedJson vocab = OrderedJson::object();
  auto& vocab_entries = vocab.get_ref<OrderedJson::object_t&>();
  absl::flat_hash_map<std::string, int64_t> vocab_ids;
  for (size_t id = 0; id < trained.vocab.size(); ++id) {
    vocab_entries.Container::emplace_back(trained.vocab[id], OrderedJson(id));
    vocab_ids.emplace(trained.vocab[id], static_cast<int64_t>(id));
  }
  OrderedJson merges = OrderedJson::array();
  for (const auto& [a, b] : trained.merges) merges.push_back(OrderedJson::array({a, b}));

  // Special token ids as HF's add_tokens assigns them.
  OrderedJson added = OrderedJson::array();
  auto next_id = static_cast<int64_t>(trained.vocab.size());
  for (const std::string& s : special_tokens) {
    auto it = vocab_ids.find(s);
    OrderedJson t;
    t["id"] = it != vocab_ids.end() ? it->second : next_id++;
    t["content"] = s;
    t["single_word"] = false;
    t["lstrip"] = false;
    t["rstrip"] = false;
    t["normalized"] = false;
    t["special"] = true;
    added.push_back(std::move(t));
  }
  std::stable_sort(added.begin(), added.end(), [](const OrderedJson& x, const OrderedJson& y) {
    return x["id"].get<int64_t>() < y["id"].get<int64_t>();
  });

  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = std::move(added);
  root["normalizer"] = {{"type", "NFC"}};
  OrderedJson split;
  split["type"] = "Split";
  split["pattern"] = {{"Regex", std::string(kQwenSplitPattern)}};
  split["behavior"] = "Isolated";
  split["invert"] = false;
  root["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers", {split, ByteLevelJson(false, false, false)}}};
  root["post_processor"] = ByteLevelJson(false, false, false);
  root["decoder"] = ByteLevelJson(true, true, true);
  OrderedJson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = false;
  model["vocab"] = std::move(vocab);
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  // All strings are valid UTF-8 (checked above or built from byte-level characters).
  return root.dump(2, ' ', false, OrderedJson::error_handler_t::replace);
}

}  // namespace mneme::tokenizer
