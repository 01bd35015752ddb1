// A backend-memory cache of the documents' pooled content K̄/V̄, so a document routed again (the
// hot documents of a workload) is copied device-to-device into the query's KV area instead of
// crossing PCIe. Used on backends whose memory is not host memory (cuda); on cpu the KV area is
// filled straight from the index.
//
// Unit: one (routed-layer slot, document) entry, K̄ then V̄ ([chunks, kv_width] fp32 each, exactly
// the index's values), fetched with ONE contiguous upload from page-locked staging. Storage: one
// ring of `budget_bytes` allocated at Create; entries are placed at the ring head and the
// oldest are evicted when the head wraps over them (FIFO), so the hot path never allocates. An
// entry larger than the whole ring bypasses the cache (uploaded straight into the KV area).
//
// Invariant relied on: a MemoryIndex never changes a document's content (ordinals are not reused;
// compaction builds a new index, and with it a new runner and cache). Not thread-safe.
#ifndef MNEME_ENGINE_QUERY_CONTENT_CACHE_H_
#define MNEME_ENGINE_QUERY_CONTENT_CACHE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/ops.h"
#include "memory/memory_index.h"

namespace mneme::query {

class ContentCache {
 public:
  struct Stats {
    int64_t hits = 0, misses = 0, bypassed = 0;
    int64_t uploaded_bytes = 0;  // host -> backend
  };

  // REQUIRES: backend and index outlive the cache. budget_bytes > 0.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ContentCache>> Create(
      kernels::Backend* backend, const memory::MemoryIndex* index, size_t budget_bytes);

  // Writes the K̄ (and V̄) rows of `docs` for routed-layer `slot`, one document after another in
  // the given order, to k_dst / v_dst (backend memory, room for the chunks of every doc).
  // Stream-ordered: the rows are in place for the next op on the backend.
  [[nodiscard]] absl::Status Fetch(int slot, absl::Span<const int64_t> docs, float* k_dst, float* v_dst);

  const Stats& stats() const { return stats_; }
  size_t budget_bytes() const { return budget_; }
  size_t cached_bytes() const { return used_; }

 private:
  struct Entry {
    int64_t key;
    size_t offset, bytes;
  };
  ContentCache(kernels::Backend* backend, const memory::MemoryIndex* index, size_t budget)
      : be_(backend), index_(index), budget_(budget) {}
  static int64_t Key(int slot, int64_t doc) { return doc * 1024 + slot; }
  // Reserves `bytes` at the ring head (wrapping when the tail is too short), evicting the
  // entries it overlaps; returns the offset.
  size_t MakeRoom(size_t bytes);
  absl::Status Stage(size_t bytes);

  kernels::Backend* be_;
  const memory::MemoryIndex* index_;
  const size_t budget_;
  std::unique_ptr<kernels::DeviceMemory> ring_;
  std::unique_ptr<kernels::DeviceMemory> staging_;  // page-locked, one Fetch's misses
  size_t head_ = 0, used_ = 0;
  std::deque<Entry> order_;                          // oldest first
  std::unordered_map<int64_t, size_t> where_;        // key -> offset
  Stats stats_;
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_CONTENT_CACHE_H_
