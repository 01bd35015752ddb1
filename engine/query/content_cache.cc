#include "engine/query/content_cache.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::query {

absl::StatusOr<std::unique_ptr<ContentCache>> ContentCache::Create(kernels::Backend* backend,
                                                                   const memory::MemoryIndex* index,
                                                                   size_t budget_bytes) {
  if (budget_bytes == 0) return absl::InvalidArgumentError("content cache: budget must be positive");
  if (index->num_slots() > 1024) return absl::InvalidArgumentError("content cache: more than 1024 routed layers");
  std::unique_ptr<ContentCache> c(new ContentCache(backend, index, budget_bytes));
  MNEME_ASSIGN_OR_RETURN(c->ring_, backend->Allocate(budget_bytes));
  return c;
}

size_t ContentCache::MakeRoom(size_t bytes) {
  // Ring invariant: order_ holds the previous lap's entries (offsets >= head_, ascending), then
  // the current lap's (offsets < head_, ascending).
  auto drop_front = [this] {
    where_.erase(order_.front().key);
    used_ -= order_.front().bytes;
    order_.pop_front();
  };
  if (head_ + bytes > budget_) {  // wrap: the previous lap's tail beyond head_ goes too
    while (!order_.empty() && order_.front().offset >= head_) drop_front();
    head_ = 0;
  }
  while (!order_.empty() && order_.front().offset >= head_ && order_.front().offset < head_ + bytes) drop_front();
  const size_t at = head_;
  head_ += bytes;
  return at;
}

absl::Status ContentCache::Stage(size_t bytes) {
  if (staging_ && staging_->size_bytes() >= bytes) return absl::OkStatus();
  // The old staging may still feed an upload in flight.
  MNEME_RETURN_IF_ERROR(be_->Synchronize());
  const size_t grown = std::max(bytes, 2 * (staging_ ? staging_->size_bytes() : 0));
  staging_.reset();
  MNEME_ASSIGN_OR_RETURN(staging_, be_->AllocateHost(grown));
  return absl::OkStatus();
}

absl::Status ContentCache::Fetch(int slot, absl::Span<const int64_t> docs, float* k_dst, float* v_dst) {
  const size_t width = static_cast<size_t>(index_->kv_width());
  char* ring = static_cast<char*>(ring_->data());
  // Misses are gathered into page-locked staging, one upload per entry. Staging is sized for
  // every doc, since a miss placed early may evict an entry counted as a hit.
  size_t miss_bytes = 0, all_bytes = 0;
  for (int64_t d : docs) {
    const size_t bytes = 2 * static_cast<size_t>(index_->num_chunks(d)) * width * sizeof(float);
    all_bytes += bytes;
    if (!where_.count(Key(slot, d))) miss_bytes += bytes;
  }
  if (miss_bytes > 0) {
    // The previous Fetch's uploads read the staging; the routing that precedes every Fetch has
    // synchronised the stream since, but an explicit sync keeps the contract local.
    MNEME_RETURN_IF_ERROR(be_->Synchronize());
    MNEME_RETURN_IF_ERROR(Stage(all_bytes));
  }
  char* staged = staging_ ? static_cast<char*>(staging_->data()) : nullptr;
  size_t k_at = 0;  // rows written so far
  for (int64_t d : docs) {
    const size_t rows = static_cast<size_t>(index_->num_chunks(d));
    const size_t half = rows * width * sizeof(float);
    auto it = where_.find(Key(slot, d));
    if (it == where_.end()) {
      std::memcpy(staged, index_->k(slot, d), half);
      std::memcpy(staged + half, index_->v(slot, d), half);
      if (2 * half > budget_) {  // larger than the whole ring: straight into the KV area
        ++stats_.bypassed;
        MNEME_RETURN_IF_ERROR(be_->CopyToDeviceAsync(k_dst + k_at * width, staged, half));
        MNEME_RETURN_IF_ERROR(be_->CopyToDeviceAsync(v_dst + k_at * width, staged + half, half));
        stats_.uploaded_bytes += static_cast<int64_t>(2 * half);
        staged += 2 * half;
        k_at += rows;
        continue;
      }
      ++stats_.misses;
      const size_t at = MakeRoom(2 * half);
      MNEME_RETURN_IF_ERROR(be_->CopyToDeviceAsync(ring + at, staged, 2 * half));
      stats_.uploaded_bytes += static_cast<int64_t>(2 * half);
      order_.push_back({Key(slot, d), at, 2 * half});
      it = where_.emplace(Key(slot, d), at).first;
      used_ += 2 * half;
      staged += 2 * half;
    } else {
      ++stats_.hits;
    }
    const char* entry = ring + it->second;
    MNEME_RETURN_IF_ERROR(be_->CopyOnDevice(k_dst + k_at * width, entry, half));
    MNEME_RETURN_IF_ERROR(be_->CopyOnDevice(v_dst + k_at * width, entry + half, half));
    k_at += rows;
  }
  return absl::OkStatus();
}

}  // namespace mneme::query
