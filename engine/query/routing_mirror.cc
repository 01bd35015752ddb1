#include "engine/query/routing_mirror.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "common/status.h"
#include "engine/query/router.h"

namespace mneme::query {

RoutingMirror::RoutingMirror(kernels::Backend* backend, const memory::MemoryIndex* index)
    : be_(backend), index_(index) {
  const int64_t w = index->kv_width();
  if (backend->host_addressable()) {
    path_ = Path::kHost;
  } else if (w % 64 == 0 && w <= 1024) {
    path_ = Path::kDeviceBf16;
  } else {
    path_ = Path::kDeviceF32;
  }
}

absl::Status RoutingMirror::Sync() {
  const memory::MemoryIndex& index = *index_;
  const int64_t chunks = index.total_chunks(), width = index.kv_width();
  if (chunks < synced_) {
    return absl::InternalError(absl::StrFormat(
        "routing mirror: the index shrank from %d to %d chunks (indexes only append)", synced_, chunks));
  }
  if (chunks == synced_) return absl::OkStatus();
  if (chunks > capacity_) {
    // Geometric growth: re-uploading everything after a doubling keeps appends amortised O(1).
    capacity_ = std::max<int64_t>({chunks, 2 * capacity_, 1024});
    keys_.resize(static_cast<size_t>(index.num_slots()));
    for (auto& k : keys_) {
      k.reset();
      MNEME_ASSIGN_OR_RETURN(k, be_->Allocate(static_cast<size_t>(capacity_ * width) * KeyBytes()));
    }
    chunk_doc_.reset();
    MNEME_ASSIGN_OR_RETURN(chunk_doc_, be_->Allocate(static_cast<size_t>(capacity_) * sizeof(int32_t)));
    synced_ = 0;
  }
  const int64_t n = chunks - synced_;
  for (int s = 0; s < index.num_slots(); ++s) {
    const float* src = index.routing_keys(s) + synced_ * width;
    char* dst = static_cast<char*>(keys_[static_cast<size_t>(s)]->data()) + static_cast<size_t>(synced_ * width) * KeyBytes();
    if (path_ == Path::kDeviceBf16) {
      // The index holds bf16-exact values (memory_index.h), so this conversion is lossless.
      staging_.resize(static_cast<size_t>(n * width));
      for (size_t i = 0; i < staging_.size(); ++i) staging_[i] = FloatToBf16(src[i]);
      MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dst, staging_.data(), staging_.size() * 2));
    } else {
      MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dst, src, static_cast<size_t>(n * width) * sizeof(float)));
    }
  }
  MNEME_RETURN_IF_ERROR(be_->CopyToDevice(chunk_doc_->i32() + synced_, index.chunk_doc() + synced_,
                                          static_cast<size_t>(n) * sizeof(int32_t)));
  synced_ = chunks;
  return absl::OkStatus();
}

absl::Status RoutingMirror::SyncLiveSet() {
  const memory::MemoryIndex& index = *index_;
  if (index.num_documents() == live_docs_synced_ && index.deletions() == live_deletions_synced_) {
    return absl::OkStatus();
  }
  dead_host_.resize(static_cast<size_t>(index.num_documents()));
  for (int64_t d = 0; d < index.num_documents(); ++d) dead_host_[static_cast<size_t>(d)] = index.IsLive(d) ? 0 : 1;
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dead_, dead_host_.size()));
  MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dead_->data(), dead_host_.data(), dead_host_.size()));
  live_docs_synced_ = index.num_documents();
  live_deletions_synced_ = index.deletions();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredDoc>> RoutingMirror::Select(int slot, const float* q_sum, int64_t t,
                                                             int top_k) {
  const memory::MemoryIndex& index = *index_;
  const int64_t width = index.kv_width(), docs = index.num_documents();
  if (index.total_chunks() == 0 || top_k <= 0) return std::vector<ScoredDoc>();
  if (path_ == Path::kHost) {
    host_scores_.assign(static_cast<size_t>(docs), -INFINITY);
    MNEME_RETURN_IF_ERROR(be_->RouteScores({q_sum, index.routing_keys(slot), index.chunk_doc(),
                                            host_scores_.data(), t, index.total_chunks(), width, docs}));
    return TopKDocuments(index, host_scores_, top_k);
  }
  MNEME_RETURN_IF_ERROR(Sync());
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &q_, static_cast<size_t>(t * width) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be_->CopyToDevice(q_->data(), q_sum, static_cast<size_t>(t * width) * sizeof(float)));
  if (path_ == Path::kDeviceBf16) {
    MNEME_RETURN_IF_ERROR(SyncLiveSet());
    top_ids_.resize(static_cast<size_t>(top_k));
    top_scores_.resize(static_cast<size_t>(top_k));
    int selected = 0;
    kernels::RouteTopKParams p;
    p.q = q_->f32();
    p.keys = static_cast<const uint16_t*>(keys_[static_cast<size_t>(slot)]->data());
    p.chunk_doc = chunk_doc_->i32();
    p.dead = static_cast<const uint8_t*>(dead_->data());
    p.q_tokens = t;
    p.chunks = index.total_chunks();
    p.width = width;
    p.num_docs = docs;
    p.top_k = top_k;
    p.out_docs = top_ids_.data();
    p.out_scores = top_scores_.data();
    p.selected = &selected;
    MNEME_RETURN_IF_ERROR(be_->RouteTopK(p));
    std::vector<ScoredDoc> out;
    for (int i = 0; i < selected; ++i) {
      out.push_back({top_ids_[static_cast<size_t>(i)], top_scores_[static_cast<size_t>(i)]});
    }
    return out;
  }
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &scores_, static_cast<size_t>(docs) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be_->RouteScores({q_->f32(), keys_[static_cast<size_t>(slot)]->f32(),
                                          chunk_doc_->i32(), scores_->f32(), t, index.total_chunks(),
                                          width, docs}));
  host_scores_.resize(static_cast<size_t>(docs));
  MNEME_RETURN_IF_ERROR(be_->CopyToHost(host_scores_.data(), scores_->data(), static_cast<size_t>(docs) * sizeof(float)));
  return TopKDocuments(index, host_scores_, top_k);
}

}  // namespace mneme::query
