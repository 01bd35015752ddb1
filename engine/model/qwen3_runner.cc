#include "engine/model/qwen3_runner.h"


#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::model {

absl::StatusOr<std::unique_ptr<Qwen3Runner>> Qwen3Runner::Create(const Qwen3Model* model,
                                                                 int64_t max_context,
                                                                 int64_t max_batch_tokens) {
  if (max_context <= 0 || max_batch_tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "runner: max_context (%d) and max_batch_tokens (%d) must be positive", max_context,
        max_batch_tokens));
  }
  std::unique_ptr<Qwen3Runner> r(new Qwen3Runner(model, max_context));
  const ModelConfig& c = model->config();
  kernels::Backend* be = model->backend();
  const size_t f = sizeof(float);
  const size_t kv_bytes = static_cast<size_t>(max_context) * c.num_key_value_heads * c.head_dim * f;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    MNEME_ASSIGN_OR_RETURN(auto k, be->Allocate(kv_bytes));
    MNEME_ASSIGN_OR_RETURN(auto v, be->Allocate(kv_bytes));
    r->k_cache_.push_back(std::move(k));
    r->v_cache_.push_back(std::move(v));
  }
  MNEME_ASSIGN_OR_RETURN(r->block_, Qwen3Block::Create(model, max_batch_tokens));
  MNEME_ASSIGN_OR_RETURN(r->x_, be->Allocate(static_cast<size_t>(max_batch_tokens) * c.hidden_size * f));
  MNEME_ASSIGN_OR_RETURN(r->logits_, be->Allocate(static_cast<size_t>(c.vocab_size) * f));
  r->positions_.resize(static_cast<size_t>(max_batch_tokens));
  return r;
}

absl::Status Qwen3Runner::Forward(absl::Span<const int32_t> ids, std::vector<float>* last_logits) {
  const ModelConfig& c = model_->config();
  if (ids.empty()) return absl::InvalidArgumentError("forward: empty input");
  if (length_ + static_cast<int64_t>(ids.size()) > max_context_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "forward: %d cached + %d new tokens exceed the context capacity of %d tokens", length_,
        ids.size(), max_context_));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "forward: token id %d at index %d outside the vocabulary [0, %d)", ids[i], i,
          c.vocab_size));
    }
  }
  const int64_t start = length_;
  for (size_t at = 0; at < ids.size(); at += static_cast<size_t>(block_->max_batch())) {
    const size_t n = std::min(ids.size() - at, static_cast<size_t>(block_->max_batch()));
    absl::Status s = ForwardChunk(ids.subspan(at, n), at + n == ids.size());
    if (!s.ok()) {
      length_ = start;
      return s;
    }
  }
  if (last_logits == nullptr) return absl::OkStatus();
  last_logits->resize(static_cast<size_t>(c.vocab_size));
  return model_->backend()->CopyToHost(last_logits->data(), logits_->data(),
                                       last_logits->size() * sizeof(float));
}

absl::Status Qwen3Runner::ForwardChunk(absl::Span<const int32_t> ids, bool want_logits) {
  const ModelConfig& c = model_->config();
  const int64_t t = static_cast<int64_t>(ids.size());
  for (int64_t i = 0; i < t; ++i) positions_[static_cast<size_t>(i)] = static_cast<int32_t>(length_ + i);
  float* x = x_->f32();
  MNEME_RETURN_IF_ERROR(block_->Embed(ids.data(), t, x));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    LayerKv kv{k_cache_[static_cast<size_t>(l)]->f32(), v_cache_[static_cast<size_t>(l)]->f32(),
               length_, max_context_};
    MNEME_RETURN_IF_ERROR(block_->Layer(l, x, t, positions_.data(), kv));
  }
  length_ += t;
  if (!want_logits) return absl::OkStatus();
  return block_->Logits(x + (t - 1) * c.hidden_size, logits_->f32());
}

}  // namespace mneme::model
