#include "engine/encode/document_encoder.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "common/status.h"

namespace mneme::encode {
namespace {

// out[c, :] = mean of rows [c*pool, min((c+1)*pool, n)) of rows ([n, width]), fp32 sums.
std::vector<float> PoolRows(const float* rows, int64_t n, int64_t width, int64_t pool) {
  const int64_t chunks = (n + pool - 1) / pool;
  std::vector<float> out(static_cast<size_t>(chunks * width), 0.0f);
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * pool, end = std::min(n, begin + pool);
    float* dst = out.data() + c * width;
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t j = 0; j < width; ++j) dst[j] += rows[r * width + j];
    }
    const float inv = 1.0f / static_cast<float>(end - begin);
    for (int64_t j = 0; j < width; ++j) dst[j] *= inv;
  }
  return out;
}

void L2NormalizeHeads(std::vector<float>* values, int64_t head_dim) {
  for (size_t at = 0; at + static_cast<size_t>(head_dim) <= values->size();
       at += static_cast<size_t>(head_dim)) {
    float ss = 0.0f;
    for (int64_t j = 0; j < head_dim; ++j) ss += (*values)[at + j] * (*values)[at + j];
    const float inv = ss > 0.0f ? 1.0f / std::sqrt(ss) : 0.0f;
    for (int64_t j = 0; j < head_dim; ++j) (*values)[at + j] *= inv;
  }
}

}  // namespace

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
  MNEME_ASSIGN_OR_RETURN(e->kr_rows_, be->Allocate(static_cast<size_t>(max_batch) *
                                                   c.num_key_value_heads * c.head_dim * f));
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
  for (size_t l = 0; l < k_.size(); ++l) {
    MNEME_ASSIGN_OR_RETURN(k_[l], model_->backend()->Allocate(bytes));
    MNEME_ASSIGN_OR_RETURN(v_[l], model_->backend()->Allocate(bytes));
  }
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

absl::StatusOr<memory::PooledDocument> DocumentEncoder::Encode(absl::Span<const int32_t> tokens) {
  const model::ModelConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t pool = settings_->pooling;
  const int64_t chunks = (n + pool - 1) / pool;
  const size_t slots = settings_->routed_layers.size();
  kernels::Backend* be = model_->backend();

  // Router keys (msa checkpoints): Kr = h · W_kr^T per batch, accumulated into chunk sums.
  model::LayerHook hook;
  if (!settings_->training_free) {
    kr_sums_.assign(slots, std::vector<double>(static_cast<size_t>(chunks * width), 0.0));
    hook = [&](int layer, const float* h, int64_t t, model::LayerKv& kv) -> absl::Status {
      const int slot = settings_->SlotOf(layer);
      const model::Qwen3LayerWeights& w = model_->layer(layer);
      if (!w.router_k) return absl::InternalError(absl::StrFormat("layer %d has no router_k_proj", layer));
      MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.router_k->data(), h, kr_rows_->f32(), t, width, c.hidden_size)));
      std::vector<double>& sums = kr_sums_[static_cast<size_t>(slot)];
      kr_host_.resize(static_cast<size_t>(t * width));
      MNEME_RETURN_IF_ERROR(be->CopyToHost(kr_host_.data(), kr_rows_->data(), kr_host_.size() * sizeof(float)));
      const float* rows = kr_host_.data();
      for (int64_t i = 0; i < t; ++i) {
        double* dst = sums.data() + ((kv.length + i) / pool) * width;
        for (int64_t j = 0; j < width; ++j) dst[j] += rows[i * width + j];
      }
      return absl::OkStatus();
    };
  }
  MNEME_RETURN_IF_ERROR(Run(tokens, hook));

  memory::PooledDocument doc;
  doc.num_chunks = chunks;
  doc.num_tokens = n;
  doc.k.resize(slots);
  doc.v.resize(slots);
  doc.kr.resize(slots);
  std::vector<float> host(static_cast<size_t>(n * width));
  for (size_t s = 0; s < slots; ++s) {
    const size_t l = static_cast<size_t>(settings_->routed_layers[s]);
    MNEME_RETURN_IF_ERROR(be->CopyToHost(host.data(), k_[l]->data(), host.size() * sizeof(float)));
    doc.k[s] = PoolRows(host.data(), n, width, pool);
    MNEME_RETURN_IF_ERROR(be->CopyToHost(host.data(), v_[l]->data(), host.size() * sizeof(float)));
    doc.v[s] = PoolRows(host.data(), n, width, pool);
    if (settings_->training_free) {
      doc.kr[s] = doc.k[s];
    } else {
      doc.kr[s].resize(static_cast<size_t>(chunks * width));
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const double count = static_cast<double>(std::min(n, (ch + 1) * pool) - ch * pool);
        for (int64_t j = 0; j < width; ++j) {
          doc.kr[s][static_cast<size_t>(ch * width + j)] =
              static_cast<float>(kr_sums_[s][static_cast<size_t>(ch * width + j)] / count);
        }
      }
    }
    if (settings_->cosine) L2NormalizeHeads(&doc.kr[s], c.head_dim);
    RoundToBf16(&doc.k[s]);
    RoundToBf16(&doc.v[s]);
    RoundToBf16(&doc.kr[s]);
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
