#include "engine/query/routing_mirror.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

#include "common/status.h"

namespace mneme::query {

absl::Status RoutingMirror::Reserve(std::unique_ptr<kernels::DeviceMemory>* mem, size_t bytes) {
  const size_t have = *mem ? (*mem)->size_bytes() : 0;
  if (have >= bytes) return absl::OkStatus();
  mem->reset();  // free first: the old contents are not needed
  MNEME_ASSIGN_OR_RETURN(*mem, be_->Allocate(std::max({bytes, 2 * have, size_t{4096}})));
  return absl::OkStatus();
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
      MNEME_ASSIGN_OR_RETURN(k, be_->Allocate(static_cast<size_t>(capacity_ * width) * sizeof(float)));
    }
    chunk_doc_.reset();
    MNEME_ASSIGN_OR_RETURN(chunk_doc_, be_->Allocate(static_cast<size_t>(capacity_) * sizeof(int32_t)));
    synced_ = 0;
  }
  const int64_t n = chunks - synced_;
  for (int s = 0; s < index.num_slots(); ++s) {
    MNEME_RETURN_IF_ERROR(be_->CopyToDevice(keys_[static_cast<size_t>(s)]->f32() + synced_ * width,
                                            index.routing_keys(s) + synced_ * width,
                                            static_cast<size_t>(n * width) * sizeof(float)));
  }
  MNEME_RETURN_IF_ERROR(be_->CopyToDevice(chunk_doc_->i32() + synced_, index.chunk_doc() + synced_,
                                          static_cast<size_t>(n) * sizeof(int32_t)));
  synced_ = chunks;
  return absl::OkStatus();
}

absl::Status RoutingMirror::Score(int slot, const float* q_sum, int64_t t, std::vector<float>* scores) {
  const memory::MemoryIndex& index = *index_;
  const int64_t width = index.kv_width(), docs = index.num_documents();
  scores->assign(static_cast<size_t>(docs), -INFINITY);
  if (index.total_chunks() == 0) return absl::OkStatus();
  if (be_->host_addressable()) {
    return be_->RouteScores({q_sum, index.routing_keys(slot), index.chunk_doc(), scores->data(), t,
                             index.total_chunks(), width, docs});
  }
  MNEME_RETURN_IF_ERROR(Sync());
  MNEME_RETURN_IF_ERROR(Reserve(&q_, static_cast<size_t>(t * width) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(Reserve(&scores_, static_cast<size_t>(docs) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be_->CopyToDevice(q_->data(), q_sum, static_cast<size_t>(t * width) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be_->RouteScores({q_->f32(), keys_[static_cast<size_t>(slot)]->f32(),
                                          chunk_doc_->i32(), scores_->f32(), t, index.total_chunks(),
                                          width, docs}));
  return be_->CopyToHost(scores->data(), scores_->data(), static_cast<size_t>(docs) * sizeof(float));
}

}  // namespace mneme::query
