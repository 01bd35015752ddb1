#include "engine/query/routed_memory.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::query {

absl::StatusOr<std::unique_ptr<LocalMemory>> LocalMemory::Create(kernels::Backend* backend,
                                                                 const memory::MemoryIndex* index,
                                                                 size_t content_cache_bytes) {
  std::unique_ptr<LocalMemory> m(new LocalMemory(backend, index));
  if (content_cache_bytes > 0) {
    MNEME_ASSIGN_OR_RETURN(m->cache_, ContentCache::Create(backend, index, content_cache_bytes));
  }
  return m;
}

absl::StatusOr<std::string> LocalMemory::Text(int64_t ordinal) {
  if (!index_->IsLive(ordinal)) return absl::NotFoundError(absl::StrFormat("no live document %d", ordinal));
  return index_->text(ordinal);
}

int64_t LocalMemory::MaxLoadRows(int top_k) const {
  // The largest selection: the top_k largest live documents.
  std::vector<int64_t> sizes;
  sizes.reserve(static_cast<size_t>(index_->live_documents()));
  for (int64_t d = 0; d < index_->num_documents(); ++d) {
    if (index_->IsLive(d)) sizes.push_back(index_->num_chunks(d));
  }
  const size_t k = std::min(sizes.size(), static_cast<size_t>(std::max(top_k, 0)));
  std::partial_sort(sizes.begin(), sizes.begin() + static_cast<long>(k), sizes.end(), std::greater<>());
  int64_t rows = 0;
  for (size_t i = 0; i < k; ++i) rows += sizes[i];
  return rows;
}

absl::StatusOr<std::vector<ScoredDoc>> LocalMemory::Select(int slot, const float* q_sum, int64_t t, int top_k) {
  return mirror_.Select(slot, q_sum, t, top_k);
}

absl::StatusOr<int64_t> LocalMemory::Load(int slot, const std::vector<int64_t>& ordinals, float* k, float* v,
                                          int64_t max_rows) {
  const int64_t width = index_->kv_width();
  int64_t rows = 0;
  for (int64_t d : ordinals) {
    if (!index_->Exists(d)) return absl::InvalidArgumentError(absl::StrFormat("load: no document %d", d));
    rows += index_->num_chunks(d);
  }
  if (rows > max_rows) {
    return absl::InternalError(absl::StrFormat("load: %d rows selected, room for %d", rows, max_rows));
  }
  if (cache_) {
    MNEME_RETURN_IF_ERROR(cache_->Fetch(slot, ordinals, k, v));
    return rows;
  }
  int64_t at = 0;
  for (int64_t d : ordinals) {
    const int64_t n = index_->num_chunks(d);
    const size_t bytes = static_cast<size_t>(n * width) * sizeof(float);
    MNEME_RETURN_IF_ERROR(be_->CopyToDevice(k + at * width, index_->k(slot, d), bytes));
    MNEME_RETURN_IF_ERROR(be_->CopyToDevice(v + at * width, index_->v(slot, d), bytes));
    at += n;
  }
  return rows;
}

}  // namespace mneme::query
