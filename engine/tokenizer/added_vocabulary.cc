#include "engine/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool SameSpec(const AddedTokenSpec& a, const AddedTokenSpec& b) {
  return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip &&
         a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special;
}

// Start of the run of White_Space characters ending `s` (HF: `\s*$`).
size_t TrailingWhitespaceStart(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    size_t pos = start;
    if (!IsUnicodeWhiteSpace(DecodeUtf8At(s, &pos))) break;
    end = start;
  }
  return end;
}

// Length of the run of White_Space characters starting `s` (HF: `^\s*`).
size_t LeadingWhitespaceLength(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = pos;
    if (!IsUnicodeWhiteSpace(DecodeUtf8At(s, &next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

AddedVocabulary::Trie::Trie() : nodes_(1) {}

int32_t AddedVocabulary::Trie::Child(int32_t node, uint8_t byte) const {
  for (const auto& [b, child] : nodes_[node].children) {
    if (b == byte) return child;
  }
  return -1;
}

void AddedVocabulary::Trie::Insert(std::string_view key, int32_t value) {
  if (key.empty()) return;
  first_byte_[static_cast<uint8_t>(key[0])] = true;
  int32_t node = 0;
  for (const char c : key) {
    const auto byte = static_cast<uint8_t>(c);
    int32_t child = Child(node, byte);
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[node].children.emplace_back(byte, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  if (nodes_[node].value < 0) nodes_[node].value = value;  // first registration wins
}

bool AddedVocabulary::Trie::Find(std::string_view text, size_t from, size_t* begin, size_t* end,
                                 int32_t* value) const {
  for (size_t start = from; start < text.size(); ++start) {
    if (!first_byte_[static_cast<uint8_t>(text[start])]) continue;
    int32_t node = 0;
    int32_t best_value = -1;
    size_t best_end = 0;
    for (size_t i = start; i < text.size(); ++i) {
      node = Child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      if (nodes_[node].value >= 0) {
        best_value = nodes_[node].value;
        best_end = i + 1;
      }
    }
    if (best_value >= 0) {
      *begin = start;
      *end = best_end;
      *value = best_value;
      return true;
    }
  }
  return false;
}

absl::StatusOr<AddedVocabulary> AddedVocabulary::Build(const std::vector<AddedTokenSpec>& tokens,
                                                       const BpeModel& model, bool nfc) {
  AddedVocabulary vocab;
  auto next_id = static_cast<int32_t>(model.vocab_entries());
  for (const AddedTokenSpec& token : tokens) {
    if (token.content.empty()) continue;
    std::optional<int32_t> existing = vocab.TokenToId(token.content);
    if (existing.has_value()) {
      auto it = vocab.by_id_.find(*existing);
      if (it != vocab.by_id_.end() && SameSpec(it->second.spec, token)) continue;
    } else {
      existing = model.TokenToId(token.content);
    }
    const int32_t id = existing.has_value() ? *existing : next_id++;
    Entry entry{token, token.content};
    if (token.normalized && nfc) {
      entry.text.clear();
      MNEME_RETURN_IF_ERROR(AppendNfc(token.content, &entry.text));
    }
    vocab.by_content_[token.content] = id;
    if (token.special) vocab.special_contents_.insert(token.content);
    vocab.by_id_[id] = std::move(entry);
    vocab.max_id_ = std::max(vocab.max_id_, id);
  }
  std::vector<int32_t> ids;
  ids.reserve(vocab.by_id_.size());
  for (const auto& [id, entry] : vocab.by_id_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const int32_t id : ids) {
    const Entry& entry = vocab.by_id_.at(id);
    (entry.spec.normalized ? vocab.normalized_trie_ : vocab.raw_trie_).Insert(entry.text, id);
  }
  return vocab;
}

void AddedVocabulary::FindMatches(std::string_view text, bool normalized_set,
                                  std::vector<AddedSegment>* out) const {
  out->clear();
  if (text.empty()) {
    out->push_back({0, 0, -1});
    return;
  }
  const Trie& trie = normalized_set ? normalized_trie_ : raw_trie_;
  if (trie.empty()) {
    out->push_back({0, text.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t search_from = 0;
  size_t match_begin = 0;
  size_t match_end = 0;
  int32_t id = -1;
  while (trie.Find(text, search_from, &match_begin, &match_end, &id)) {
    search_from = match_end;  // the automaton resumes after the raw match
    const AddedTokenSpec& spec = by_id_.at(id).spec;
    size_t start = match_begin;
    size_t stop = match_end;
    if (spec.single_word) {
      const bool start_space =
          start == 0 || !IsUnicodeWordChar(LastCodePoint(text.substr(0, start)));
      size_t pos = stop;
      const bool stop_space = stop == text.size() || !IsUnicodeWordChar(DecodeUtf8At(text, &pos));
      if (!start_space || !stop_space) continue;
    }
    if (spec.lstrip) start = std::max(TrailingWhitespaceStart(text.substr(0, start)), start_offset);
    if (spec.rstrip) stop += LeadingWhitespaceLength(text.substr(stop));
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, id});
    start_offset = stop;
  }
  if (start_offset != text.size()) out->push_back({start_offset, text.size(), -1});
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = by_content_.find(AsAbsl(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::IdToToken(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.text;
}

bool AddedVocabulary::IsSpecial(int32_t id) const {
  auto it = by_id_.find(id);
  return it != by_id_.end() && special_contents_.contains(AsAbsl(it->second.spec.content));
}

}  // namespace mneme::tokenizer
