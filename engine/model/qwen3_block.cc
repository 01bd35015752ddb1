#include "engine/model/qwen3_block.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::model {

absl::StatusOr<std::unique_ptr<Qwen3Block>> Qwen3Block::Create(const Qwen3Model* model,
                                                               int64_t max_batch) {
  if (max_batch <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("max_batch must be positive, got %d", max_batch));
  }
  std::unique_ptr<Qwen3Block> b(new Qwen3Block(model, max_batch));
  const ModelConfig& c = model->config();
  kernels::Backend* be = model->backend();
  const size_t n = static_cast<size_t>(max_batch), f = sizeof(float);
  const size_t q_width = static_cast<size_t>(c.num_attention_heads) * c.head_dim;
  MNEME_ASSIGN_OR_RETURN(b->h_, be->Allocate(n * c.hidden_size * f));
  MNEME_ASSIGN_OR_RETURN(b->q_, be->Allocate(n * q_width * f));
  MNEME_ASSIGN_OR_RETURN(b->attn_, be->Allocate(n * q_width * f));
  MNEME_ASSIGN_OR_RETURN(b->lse_, be->Allocate(n * c.num_attention_heads * f));
  MNEME_ASSIGN_OR_RETURN(b->gate_up_, be->Allocate(n * 2 * c.intermediate_size * f));
  MNEME_ASSIGN_OR_RETURN(b->act_, be->Allocate(n * c.intermediate_size * f));
  return b;
}

absl::Status Qwen3Block::Embed(const int32_t* ids, int64_t t, float* x) {
  const ModelConfig& c = model_->config();
  if (t <= 0 || t > max_batch_) {
    return absl::InvalidArgumentError(absl::StrFormat("embed: %d tokens, batch limit %d", t, max_batch_));
  }
  return model_->backend()->Embedding({model_->embed(), ids, x, t, c.vocab_size, c.hidden_size});
}

absl::Status Qwen3Block::AttentionQueries(int layer, const float* h, int64_t t,
                                          const int32_t* positions, float* q_out) {
  const ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  const Qwen3LayerWeights& w = model_->layer(layer);
  const int64_t hq = c.num_attention_heads, d = c.head_dim;
  MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.wq->data(), h, q_out, t, hq * d, c.hidden_size)));
  MNEME_RETURN_IF_ERROR(be->RmsNorm({q_out, w.q_norm->f32(), q_out, t * hq, d,
                                     static_cast<float>(c.rms_norm_eps)}));
  return be->Rope({q_out, positions, t, hq, d, c.rope_theta});
}

absl::Status Qwen3Block::Layer(int layer, float* x, int64_t t, const int32_t* positions,
                               LayerKv& kv, bool causal, const LayerHook& hook, PackedSeqs packed,
                               const AttendHook& attend) {
  const ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  const Qwen3LayerWeights& w = model_->layer(layer);
  const int64_t hidden = c.hidden_size, d = c.head_dim, inter = c.intermediate_size;
  const int64_t hq = c.num_attention_heads, hkv = c.num_key_value_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (t <= 0 || t > max_batch_) {
    return absl::InvalidArgumentError(absl::StrFormat("layer: %d tokens, batch limit %d", t, max_batch_));
  }
  if (packed.count > 0 && kv.length != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("layer %d: packed sequences after %d cached rows", layer, kv.length));
  }
  float* h = h_->f32();
  MNEME_RETURN_IF_ERROR(be->RmsNorm({x, w.input_norm->f32(), h, t, hidden, eps}));
  if (hook) MNEME_RETURN_IF_ERROR(hook(layer, h, t, kv));
  if (kv.length + t > kv.capacity) {
    return absl::OutOfRangeError(absl::StrFormat(
        "layer %d: %d cached + %d new rows exceed the KV capacity of %d", layer, kv.length, t,
        kv.capacity));
  }
  // Attention block: K and V go straight into the cache rows.
  float* k_new = kv.k + kv.length * hkv * d;
  float* v_new = kv.v + kv.length * hkv * d;
  MNEME_RETURN_IF_ERROR(AttentionQueries(layer, h, t, positions, q_->f32()));
  MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.wk->data(), h, k_new, t, hkv * d, hidden)));
  MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.wv->data(), h, v_new, t, hkv * d, hidden)));
  MNEME_RETURN_IF_ERROR(be->RmsNorm({k_new, w.k_norm->f32(), k_new, t * hkv, d, eps}));
  MNEME_RETURN_IF_ERROR(be->Rope({k_new, positions, t, hkv, d, c.rope_theta}));
  kernels::AttentionParams ap;
  ap.q = q_->f32();
  ap.k = kv.k;
  ap.v = kv.v;
  ap.out = attn_->f32();
  ap.q_tokens = t;
  ap.kv_len = kv.length + t;
  ap.q_offset = kv.length;
  ap.num_heads = hq;
  ap.num_kv_heads = hkv;
  ap.head_dim = d;
  ap.scale = 1.0f / std::sqrt(static_cast<float>(d));
  ap.causal = causal;
  ap.allow_bf16 = model_->matmul_type() == kernels::DType::kBf16;
  ap.seq_starts = packed.starts;
  ap.num_seqs = packed.count;
  if (attend) ap.lse = lse_->f32();
  MNEME_RETURN_IF_ERROR(be->Attention(ap));
  kv.length += t;
  if (attend) MNEME_RETURN_IF_ERROR(attend(layer, q_->f32(), t, attn_->f32(), lse_->f32()));
  // x += attn · Wo^T (the residual add fused into the GEMM's accumulate).
  MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.wo->data(), attn_->f32(), x, t, hidden, hq * d, true)));
  // MLP block.
  MNEME_RETURN_IF_ERROR(be->RmsNorm({x, w.post_norm->f32(), h, t, hidden, eps}));
  MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.w_gate_up->data(), h, gate_up_->f32(), t, 2 * inter, hidden)));
  MNEME_RETURN_IF_ERROR(be->SwiGlu({gate_up_->f32(), act_->f32(), t, inter}));
  return be->MatMul(model_->Proj(w.w_down->data(), act_->f32(), x, t, hidden, inter, true));
}

absl::Status Qwen3Block::Logits(const float* x_row, float* logits) {
  const ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  float* h = h_->f32();
  MNEME_RETURN_IF_ERROR(be->RmsNorm({x_row, model_->final_norm(), h, 1, c.hidden_size,
                                     static_cast<float>(c.rms_norm_eps)}));
  return be->MatMul(model_->Proj(model_->lm_head(), h, logits, 1, c.vocab_size, c.hidden_size));
}

}  // namespace mneme::model
