#include "engine/tokenizer/bpe_model.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    std::vector<std::pair<std::string, int32_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->options_ = std::move(options);
  model->small_char_ids_.fill(-1);
  model->byte_fallback_ids_.fill(-1);
  model->token_to_id_.reserve(vocab.size());
  model->id_to_token_.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("vocab token \"%s\" has negative id %d", token, id));
    }
    if (!model->id_to_token_.emplace(id, token).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vocab tokens \"%s\" and \"%s\" share id %d", model->id_to_token_[id], token, id));
    }
    if (!token.empty()) {
      size_t pos = 0;
      const char32_t cp = DecodeUtf8At(token, &pos);
      if (pos == token.size() && cp < model->small_char_ids_.size()) {
        model->small_char_ids_[cp] = id;
      }
    }
    model->max_id_ = std::max(model->max_id_, id);
    if (!model->token_to_id_.emplace(std::move(token), id).second) {
      return absl::InvalidArgumentError(absl::StrFormat("vocab lists a token twice (id %d)", id));
    }
  }
  model->merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    joined = a;
    joined += b;
    std::optional<int32_t> ids[3] = {model->TokenToId(a), model->TokenToId(b),
                                     model->TokenToId(joined)};
    const std::string* names[3] = {&a, &b, &joined};
    for (int k = 0; k < 3; ++k) {
      if (!ids[k].has_value()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "merge #%d (\"%s\" \"%s\") names token \"%s\", which is not in the vocabulary", rank, a,
            b, *names[k]));
      }
    }
    model->merges_[PairKey(*ids[0], *ids[1])] = MergeInfo{static_cast<int32_t>(rank), *ids[2]};
  }
  if (model->options_.unk_token.has_value()) {
    std::optional<int32_t> unk = model->TokenToId(*model->options_.unk_token);
    if (!unk.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("unk_token \"%s\" is not in the vocabulary", *model->options_.unk_token));
    }
    model->unk_id_ = *unk;
  }
  if (model->options_.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      std::optional<int32_t> id = model->TokenToId(absl::StrFormat("<0x%02X>", b));
      model->byte_fallback_ids_[b] = id.value_or(-1);
    }
  }
  return model;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = token_to_id_.find(AsAbsl(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? nullptr : &it->second;
}

const BpeModel::MergeInfo* BpeModel::FindMerge(int32_t a, int32_t b) const {
  auto it = merges_.find(PairKey(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::Tokenize(std::string_view word, Scratch* scratch, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (std::optional<int32_t> id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  std::vector<Scratch::Symbol>& symbols = scratch->symbols_;
  symbols.clear();
  auto add = [&symbols](int32_t id, int32_t len) {
    const auto n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len});
  };
  bool unk_pending = false;
  int32_t unk_len = 0;
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t start = pos;
    const char32_t cp = DecodeUtf8At(word, &pos);
    const auto len = static_cast<int32_t>(pos - start);
    int32_t id = -1;
    if (cp < small_char_ids_.size()) {
      id = small_char_ids_[cp];
    } else if (std::optional<int32_t> found = TokenToId(word.substr(start, pos - start))) {
      id = *found;
    }
    if (id >= 0) {
      if (unk_pending) {
        add(unk_id_, unk_len);
        unk_pending = false;
      }
      add(id, len);
      continue;
    }
    if (options_.byte_fallback) {
      auto byte_token = [&](size_t i) { return byte_fallback_ids_[static_cast<uint8_t>(word[i])]; };
      bool all = true;
      for (size_t i = start; i < pos; ++i) all = all && byte_token(i) >= 0;
      if (all) {
        // Like HF, a pending unk is not flushed here (it is emitted later).
        for (size_t i = start; i < pos; ++i) add(byte_token(i), 1);
        continue;
      }
    }
    if (unk_id_ < 0) continue;  // no unk token: the character is dropped
    if (unk_pending && options_.fuse_unk) {
      unk_len += len;
    } else {
      if (unk_pending) add(unk_id_, unk_len);
      unk_pending = true;
      unk_len = len;
    }
  }
  if (unk_pending) add(unk_id_, unk_len);
  MergeAll(scratch);
  for (const Scratch::Symbol& s : symbols) {
    if (s.len != 0) ids->push_back(s.id);
  }
}

void BpeModel::MergeAll(Scratch* scratch) const {
  std::vector<Scratch::Symbol>& symbols = scratch->symbols_;
  std::vector<Scratch::Merge>& heap = scratch->heap_;
  heap.clear();
  // Max-heap comparator whose top is the lowest rank, then the lowest position.
  auto after = [](const Scratch::Merge& x, const Scratch::Merge& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  auto push = [&](int32_t pos, const MergeInfo& m) {
    heap.push_back({pos, m.rank, m.new_id});
    std::push_heap(heap.begin(), heap.end(), after);
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const MergeInfo* m = FindMerge(symbols[i].id, symbols[i + 1].id)) {
      heap.push_back({static_cast<int32_t>(i), m->rank, m->new_id});
    }
  }
  std::make_heap(heap.begin(), heap.end(), after);
  const auto n = static_cast<int32_t>(symbols.size());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), after);
    const Scratch::Merge top = heap.back();
    heap.pop_back();
    Scratch::Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;  // merged away, or the last symbol
    const int32_t next_pos = cur.next;
    const Scratch::Symbol right = symbols[next_pos];
    // Skip entries made stale by earlier merges.
    const MergeInfo* current = FindMerge(cur.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0 && right.next < n) symbols[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const MergeInfo* m = FindMerge(symbols[cur.prev].id, cur.id)) push(cur.prev, *m);
    }
    if (cur.next >= 0 && cur.next < n) {
      if (const MergeInfo* m = FindMerge(cur.id, symbols[cur.next].id)) push(top.pos, *m);
    }
  }
}

}  // namespace mneme::tokenizer
