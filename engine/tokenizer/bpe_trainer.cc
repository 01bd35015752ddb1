#include "engine/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <queue>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

uint64_t Key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t Left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t Right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

struct Candidate {
  int64_t count;
  uint64_t key;
  // Priority order: higher count, then smaller (left, right) ids.
  bool operator<(const Candidate& o) const {
    if (count != o.count) return count < o.count;
    return key > o.key;
  }
};

}  // namespace

BpeTrainingResult TrainByteLevelBpe(const std::vector<std::pair<std::string, int64_t>>& words,
                                    int num_merges) {
  BpeTrainingResult result;
  // Initial alphabet: the byte characters in code point order.
  std::array<int, 256> bytes{};
  for (int b = 0; b < 256; ++b) bytes[b] = b;
  std::sort(bytes.begin(), bytes.end(), [](int x, int y) {
    return ByteToChar(static_cast<uint8_t>(x)) < ByteToChar(static_cast<uint8_t>(y));
  });
  std::array<int32_t, 256> byte_id{};
  absl::flat_hash_map<std::string, int32_t> ids;
  for (int i = 0; i < 256; ++i) {
    std::string s;
    AppendUtf8(ByteToChar(static_cast<uint8_t>(bytes[i])), &s);
    byte_id[bytes[i]] = i;
    ids.emplace(s, i);
    result.vocab.push_back(std::move(s));
  }

  std::vector<std::vector<int32_t>> symbols;
  std::vector<int64_t> counts;
  absl::flat_hash_map<uint64_t, int64_t> pair_count;
  absl::flat_hash_map<uint64_t, std::vector<int32_t>> pair_words;  // may hold stale entries
  for (const auto& [word, count] : words) {
    if (word.empty() || count <= 0) continue;
    const auto w = static_cast<int32_t>(symbols.size());
    std::vector<int32_t>& syms = symbols.emplace_back();
    for (const char c : word) syms.push_back(byte_id[static_cast<uint8_t>(c)]);
    counts.push_back(count);
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      const uint64_t key = Key(syms[i], syms[i + 1]);
      pair_count[key] += count;
      std::vector<int32_t>& where = pair_words[key];
      if (where.empty() || where.back() != w) where.push_back(w);
    }
  }
  std::priority_queue<Candidate> queue;
  for (const auto& [key, count] : pair_count) queue.push({count, key});

  std::vector<uint32_t> seen(symbols.size(), 0);
  uint32_t stamp = 0;
  std::vector<int32_t> merged;
  absl::flat_hash_set<uint64_t> touched;
  while (static_cast<int>(result.merges.size()) < num_merges && !queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    auto found = pair_count.find(top.key);
    const int64_t current = found == pair_count.end() ? 0 : found->second;
    if (current != top.count) {  // stale entry: requeue with the live count
      if (current > 0) queue.push({current, top.key});
      continue;
    }
    if (current <= 0) continue;
    const int32_t a = Left(top.key);
    const int32_t b = Right(top.key);
    std::string joined = result.vocab[a] + result.vocab[b];
    result.merges.emplace_back(result.vocab[a], result.vocab[b]);
    auto [it, inserted] = ids.emplace(joined, static_cast<int32_t>(result.vocab.size()));
    if (inserted) result.vocab.push_back(std::move(joined));
    const int32_t new_id = it->second;

    std::vector<int32_t> affected = std::move(pair_words[top.key]);
    pair_words.erase(top.key);
    ++stamp;
    touched.clear();
    for (const int32_t w : affected) {
      if (seen[w] == stamp) continue;
      seen[w] = stamp;
      std::vector<int32_t>& syms = symbols[w];
      const int64_t count = counts[w];
      merged.clear();
      for (size_t i = 0; i < syms.size();) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          merged.push_back(new_id);
          i += 2;
        } else {
          merged.push_back(syms[i]);
          ++i;
        }
      }
      if (merged.size() == syms.size()) continue;  // stale index entry
      for (size_t i = 0; i + 1 < syms.size(); ++i) pair_count[Key(syms[i], syms[i + 1])] -= count;
      syms.swap(merged);
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        const uint64_t key = Key(syms[i], syms[i + 1]);
        pair_count[key] += count;
        std::vector<int32_t>& where = pair_words[key];
        if (where.empty() || where.back() != w) where.push_back(w);
        touched.insert(key);
      }
    }
    for (const uint64_t key : touched) {
      const int64_t count = pair_count[key];
      if (count > 0) queue.push({count, key});
    }
  }
  return result;
}

}  // namespace mneme::tokenizer
