#include "engine/model/qwen3_runner.h"

#include <cmath>

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
  std::unique_ptr<Qwen3Runner> r(new Qwen3Runner(model, max_context, max_batch_tokens));
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
  const size_t b = static_cast<size_t>(max_batch_tokens);
  const size_t q_width = static_cast<size_t>(c.num_attention_heads) * c.head_dim;
  MNEME_ASSIGN_OR_RETURN(r->x_, be->Allocate(b * c.hidden_size * f));
  MNEME_ASSIGN_OR_RETURN(r->h_, be->Allocate(b * c.hidden_size * f));
  MNEME_ASSIGN_OR_RETURN(r->q_, be->Allocate(b * q_width * f));
  MNEME_ASSIGN_OR_RETURN(r->attn_, be->Allocate(b * q_width * f));
  MNEME_ASSIGN_OR_RETURN(r->gate_up_, be->Allocate(b * 2 * c.intermediate_size * f));
  MNEME_ASSIGN_OR_RETURN(r->act_, be->Allocate(b * c.intermediate_size * f));
  MNEME_ASSIGN_OR_RETURN(r->logits_, be->Allocate(static_cast<size_t>(c.vocab_size) * f));
  r->positions_.resize(b);
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
  for (size_t at = 0; at < ids.size(); at += static_cast<size_t>(max_batch_)) {
    const size_t n = std::min(ids.size() - at, static_cast<size_t>(max_batch_));
    absl::Status s = ForwardChunk(ids.subspan(at, n), at + n == ids.size());
    if (!s.ok()) {
      length_ = start;
      return s;
    }
  }
  last_logits->resize(static_cast<size_t>(c.vocab_size));
  return model_->backend()->CopyToHost(last_logits->data(), logits_->data(),
                                       last_logits->size() * sizeof(float));
}

absl::Status Qwen3Runner::ForwardChunk(absl::Span<const int32_t> ids, bool want_logits) {
  const ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  const int64_t t = static_cast<int64_t>(ids.size());
  const int64_t hidden = c.hidden_size, d = c.head_dim;
  const int64_t hq = c.num_attention_heads, hkv = c.num_key_value_heads;
  const int64_t inter = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  for (int64_t i = 0; i < t; ++i) positions_[static_cast<size_t>(i)] = static_cast<int32_t>(length_ + i);

  float* x = x_->f32();
  float* h = h_->f32();
  MNEME_RETURN_IF_ERROR(be->Embedding({model_->embed(), ids.data(), x, t, c.vocab_size, hidden}));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const Qwen3LayerWeights& w = model_->layer(l);
    float* k_new = k_cache_[static_cast<size_t>(l)]->f32() + length_ * hkv * d;
    float* v_new = v_cache_[static_cast<size_t>(l)]->f32() + length_ * hkv * d;
    // Attention block: q/k/v projections write K and V straight into the cache rows.
    MNEME_RETURN_IF_ERROR(be->RmsNorm({x, w.input_norm->f32(), h, t, hidden, eps}));
    MNEME_RETURN_IF_ERROR(be->MatMul({h, w.wq->f32(), q_->f32(), t, hq * d, hidden}));
    MNEME_RETURN_IF_ERROR(be->MatMul({h, w.wk->f32(), k_new, t, hkv * d, hidden}));
    MNEME_RETURN_IF_ERROR(be->MatMul({h, w.wv->f32(), v_new, t, hkv * d, hidden}));
    MNEME_RETURN_IF_ERROR(be->RmsNorm({q_->f32(), w.q_norm->f32(), q_->f32(), t * hq, d, eps}));
    MNEME_RETURN_IF_ERROR(be->RmsNorm({k_new, w.k_norm->f32(), k_new, t * hkv, d, eps}));
    MNEME_RETURN_IF_ERROR(be->Rope({q_->f32(), positions_.data(), t, hq, d, c.rope_theta}));
    MNEME_RETURN_IF_ERROR(be->Rope({k_new, positions_.data(), t, hkv, d, c.rope_theta}));
    kernels::AttentionParams ap;
    ap.q = q_->f32();
    ap.k = k_cache_[static_cast<size_t>(l)]->f32();
    ap.v = v_cache_[static_cast<size_t>(l)]->f32();
    ap.out = attn_->f32();
    ap.q_tokens = t;
    ap.kv_len = length_ + t;
    ap.q_offset = length_;
    ap.num_heads = hq;
    ap.num_kv_heads = hkv;
    ap.head_dim = d;
    ap.scale = 1.0f / std::sqrt(static_cast<float>(d));
    MNEME_RETURN_IF_ERROR(be->Attention(ap));
    // x += attn · Wo^T (residual fused into the GEMM's accumulate).
    MNEME_RETURN_IF_ERROR(be->MatMul({attn_->f32(), w.wo->f32(), x, t, hidden, hq * d, 0, true}));
    // MLP block.
    MNEME_RETURN_IF_ERROR(be->RmsNorm({x, w.post_norm->f32(), h, t, hidden, eps}));
    MNEME_RETURN_IF_ERROR(be->MatMul({h, w.w_gate_up->f32(), gate_up_->f32(), t, 2 * inter, hidden}));
    MNEME_RETURN_IF_ERROR(be->SwiGlu({gate_up_->f32(), act_->f32(), t, inter}));
    MNEME_RETURN_IF_ERROR(be->MatMul({act_->f32(), w.w_down->f32(), x, t, hidden, inter, 0, true}));
  }
  length_ += t;
  if (!want_logits) return absl::OkStatus();
  const float* last = x + (t - 1) * hidden;
  MNEME_RETURN_IF_ERROR(be->RmsNorm({last, model_->final_norm(), h, 1, hidden, eps}));
  return be->MatMul({h, model_->lm_head(), logits_->f32(), 1, c.vocab_size, hidden});
}

}  // namespace mneme::model
