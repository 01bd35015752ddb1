// The in-memory index of a session's MSA memory: the routing keys of every routed layer laid out
// contiguously for scoring, the chunk -> document map, the document table (tombstones included)
// and each document's pooled content K̄/V̄.
//
// Layout: for routed-layer slot s, routing_keys(s) is [total_chunks, kv_width] fp32 (values are
// bf16-exact, see docs/msa.md §1); document d owns chunks [chunk_begin(d), chunk_begin(d) +
// num_chunks(d)). Ordinals are dense, assigned in append order and never reused; deleting a
// document tombstones it (it stops routing at once) and keeps its rows until compaction.
//
// Thread safety: none; the owning session serialises access.
#ifndef MNEME_MEMORY_MEMORY_INDEX_H_
#define MNEME_MEMORY_MEMORY_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mneme::memory {

// The pooled memory of one document: per routed-layer slot, [num_chunks, kv_width] arrays.
struct PooledDocument {
  int64_t num_chunks = 0;
  int64_t num_tokens = 0;
  std::vector<std::vector<float>> k, v, kr;  // [slots][num_chunks * kv_width]
};

class MemoryIndex {
 public:
  MemoryIndex(int num_slots, int64_t kv_width) : num_slots_(num_slots), kv_width_(kv_width),
                                                  keys_(static_cast<size_t>(num_slots)) {}

  // Adds `doc` as ordinal num_documents() and returns that ordinal. InvalidArgument if its
  // arrays do not match num_slots x num_chunks x kv_width or it has no chunk.
  [[nodiscard]] absl::StatusOr<int64_t> Append(PooledDocument doc, std::string text);

  // Reserves the next ordinal without memory (a document held elsewhere, or deleted before this
  // index was built): it exists, never routes, and cannot be deleted again. Returns the ordinal.
  int64_t AppendAbsent();

  // Tombstones `ordinal`. NotFound if it never existed; FailedPrecondition if already deleted.
  [[nodiscard]] absl::Status Delete(int64_t ordinal);

  int num_slots() const { return num_slots_; }
  int64_t kv_width() const { return kv_width_; }
  int64_t num_documents() const { return static_cast<int64_t>(docs_.size()); }
  int64_t live_documents() const { return live_; }
  // Deletes so far: a change tells a mirror of the live set (engine/query/routing_mirror.h) to
  // refresh it.
  int64_t deletions() const { return deletions_; }
  int64_t total_chunks() const { return static_cast<int64_t>(chunk_doc_.size()); }
  int64_t total_tokens() const { return total_tokens_; }
  bool Exists(int64_t ordinal) const { return ordinal >= 0 && ordinal < num_documents(); }
  bool IsLive(int64_t ordinal) const { return Exists(ordinal) && docs_[Idx(ordinal)].live; }

  const float* routing_keys(int slot) const { return keys_[static_cast<size_t>(slot)].data(); }
  const int32_t* chunk_doc() const { return chunk_doc_.data(); }

  // REQUIRES: Exists(ordinal), 0 <= slot < num_slots().
  int64_t num_chunks(int64_t ordinal) const { return docs_[Idx(ordinal)].memory.num_chunks; }
  int64_t num_tokens(int64_t ordinal) const { return docs_[Idx(ordinal)].memory.num_tokens; }
  int64_t chunk_begin(int64_t ordinal) const { return docs_[Idx(ordinal)].chunk_begin; }
  const float* k(int slot, int64_t ordinal) const;  // [num_chunks, kv_width]
  const float* v(int slot, int64_t ordinal) const;  // [num_chunks, kv_width]
  const std::string& text(int64_t ordinal) const { return docs_[Idx(ordinal)].text; }

 private:
  static size_t Idx(int64_t ordinal) { return static_cast<size_t>(ordinal); }
  struct Entry {
    int64_t chunk_begin = 0;
    bool live = true;
    std::string text;
    PooledDocument memory;  // k and v kept; kr moved into keys_
  };
  const int num_slots_;
  const int64_t kv_width_;
  std::vector<std::vector<float>> keys_;  // per slot [total_chunks, kv_width]
  std::vector<int32_t> chunk_doc_;        // [total_chunks]
  std::vector<Entry> docs_;
  int64_t live_ = 0;
  int64_t deletions_ = 0;
  int64_t total_tokens_ = 0;
};

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_MEMORY_INDEX_H_
