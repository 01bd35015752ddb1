#include "engine/encode/document_encoder.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "common/status.h"

namespace mneme::encode {

void RoundToBf16(std::vector<float>* values) {
  for (float& x : *values) x = Bf16ToFloat(FloatToBf16(x));
}

absl::StatusOr<std::unique_ptr<DocumentEncoder>> DocumentEncoder::Create(
    const model::Qwen3Model* model, const model::MsaSettings* settings, int64_t max_batch) {
  std::unique_ptr<DocumentEncoder> e(new DocumentEncoder(model, settings));
  MNEME_ASSIGN_OR_RETURN(e->block_, model::Qwen3Block::Create(model, max_batch));
  const model::ModelConfig& c = model->config();
  kernels::Backend* be = model->backend();
  const size_t f = sizeof(float);
  MNEME_ASSIGN_OR_RETURN(e->x_, be->Allocate(static_cast<size_t>(max_batch) * c.hidden_size * f));
  e->positions_.resize(static_cast<size_t>(max_batch));
  e->k_.resize(static_cast<size_t>(c.num_hidden_layers));
  e->v_.resize(static_cast<size_t>(c.num_hidden_layers));
  return e;
}

absl::Status DocumentEncoder::EnsureCapacity(int64_t tokens) {
  if (tokens <= capacity_) return absl::OkStatus();
  const model::ModelConfig& c = model_->config();
  const int64_t cap = std::max(tokens, capacity_ * 2);
  const size_t bytes = static_cast<size_t>(cap) * c.num_key_value_heads * c.head_dim * sizeof(float);
  kernels::Backend* be = model_->backend();
  for (size_t l = 0; l < k_.size(); ++l) {
    MNEME_ASSIGN_OR_RETURN(k_[l], be->Allocate(bytes));
    MNEME_ASSIGN_OR_RETURN(v_[l], be->Allocate(bytes));
  }
  kr_.resize(settings_->training_free ? 0 : settings_->routed_layers.size());
  for (auto& kr : kr_) {
    MNEME_ASSIGN_OR_RETURN(kr, be->Allocate(bytes));
  }
  const int64_t chunks = (cap + settings_->pooling - 1) / settings_->pooling;
  MNEME_ASSIGN_OR_RETURN(pooled_, be->Allocate(static_cast<size_t>(chunks) * c.num_key_value_heads *
                                               c.head_dim * sizeof(float)));
  capacity_ = cap;
  return absl::OkStatus();
}

absl::Status DocumentEncoder::Run(absl::Span<const int32_t> tokens, const model::LayerHook& hook) {
  const model::ModelConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("encode: empty document");
  if (n > c.max_position_embeddings) {
    return absl::OutOfRangeError(absl::StrFormat(
        "encode: document of %d tokens exceeds the model's %d positions", n,
        c.max_position_embeddings));
  }
  MNEME_RETURN_IF_ERROR(EnsureCapacity(n));
  const int64_t batch = block_->max_batch();
  for (int64_t at = 0; at < n; at += batch) {
    const int64_t t = std::min(batch, n - at);
    for (int64_t i = 0; i < t; ++i) positions_[static_cast<size_t>(i)] = static_cast<int32_t>(at + i);
    MNEME_RETURN_IF_ERROR(block_->Embed(tokens.data() + at, t, x_->f32()));
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      model::LayerKv kv{k_[static_cast<size_t>(l)]->f32(), v_[static_cast<size_t>(l)]->f32(), at, capacity_};
      const bool routed = settings_->SlotOf(l) >= 0;
      MNEME_RETURN_IF_ERROR(block_->Layer(l, x_->f32(), t, positions_.data(), kv, true,
                                          routed ? hook : model::LayerHook()));
    }
  }
  return absl::OkStatus();
}

absl::Status DocumentEncoder::PoolToHost(const float* rows, int64_t n, int64_t l2_head_dim,
                                         std::vector<float>* out) {
  const model::ModelConfig& c = model_->config();
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t pool = settings_->pooling;
  kernels::Backend* be = model_->backend();
  MNEME_RETURN_IF_ERROR(be->ChunkPool({rows, pooled_->f32(), n, width, pool, l2_head_dim}));
  out->resize(static_cast<size_t>((n + pool - 1) / pool * width));
  MNEME_RETURN_IF_ERROR(be->CopyToHost(out->data(), pooled_->data(), out->size() * sizeof(float)));
  RoundToBf16(out);
  return absl::OkStatus();
}

absl::StatusOr<memory::PooledDocument> DocumentEncoder::Encode(absl::Span<const int32_t> tokens) {
  const model::ModelConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const size_t slots = settings_->routed_layers.size();
  kernels::Backend* be = model_->backend();

  // Router keys (msa checkpoints): Kr = h · W_kr^T, written row-aligned with the layer's K.
  model::LayerHook hook;
  if (!settings_->training_free) {
    hook = [&](int layer, const float* h, int64_t t, model::LayerKv& kv) -> absl::Status {
      const int slot = settings_->SlotOf(layer);
      const model::Qwen3LayerWeights& w = model_->layer(layer);
      if (!w.router_k) return absl::InternalError(absl::StrFormat("layer %d has no router_k_proj", layer));
      float* rows = kr_[static_cast<size_t>(slot)]->f32() + kv.length * width;
      return be->MatMul(model_->Proj(w.router_k->data(), h, rows, t, width, c.hidden_size));
    };
  }
  MNEME_RETURN_IF_ERROR(Run(tokens, hook));

  memory::PooledDocument doc;
  doc.num_chunks = (n + settings_->pooling - 1) / settings_->pooling;
  doc.num_tokens = n;
  doc.k.resize(slots);
  doc.v.resize(slots);
  doc.kr.resize(slots);
  const int64_t l2 = settings_->cosine ? c.head_dim : 0;
  for (size_t s = 0; s < slots; ++s) {
    const size_t l = static_cast<size_t>(settings_->routed_layers[s]);
    MNEME_RETURN_IF_ERROR(PoolToHost(k_[l]->f32(), n, 0, &doc.k[s]));
    MNEME_RETURN_IF_ERROR(PoolToHost(v_[l]->f32(), n, 0, &doc.v[s]));
    // Training-free routing keys are the pooled K itself.
    MNEME_RETURN_IF_ERROR(PoolToHost(settings_->training_free ? k_[l]->f32() : kr_[s]->f32(), n, l2, &doc.kr[s]));
  }
  return doc;
}

absl::StatusOr<RawKv> DocumentEncoder::EncodeRaw(absl::Span<const int32_t> tokens) {
  const model::ModelConfig& c = model_->config();
  MNEME_RETURN_IF_ERROR(Run(tokens, model::LayerHook()));
  RawKv raw;
  raw.tokens = static_cast<int64_t>(tokens.size());
  const size_t n = static_cast<size_t>(raw.tokens) * c.num_key_value_heads * c.head_dim;
  for (size_t l = 0; l < k_.size(); ++l) {
    raw.k.emplace_back(n);
    raw.v.emplace_back(n);
    MNEME_RETURN_IF_ERROR(model_->backend()->CopyToHost(raw.k.back().data(), k_[l]->data(), n * sizeof(float)));
    MNEME_RETURN_IF_ERROR(model_->backend()->CopyToHost(raw.v.back().data(), v_[l]->data(), n * sizeof(float)));
  }
  return raw;
}

}  // namespace mneme::encode
