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
  capacity_ = cap;
  return absl::OkStatus();
}

absl::Status DocumentEncoder::CheckLength(int64_t n) const {
  const model::ModelConfig& c = model_->config();
  if (n == 0) return absl::InvalidArgumentError("encode: empty document");
  if (n > c.max_position_embeddings) {
    return absl::OutOfRangeError(absl::StrFormat(
        "encode: document of %d tokens exceeds the model's %d positions", n,
        c.max_position_embeddings));
  }
  return absl::OkStatus();
}

absl::Status DocumentEncoder::Run(absl::Span<const int32_t> tokens, const model::LayerHook& hook) {
  const model::ModelConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  MNEME_RETURN_IF_ERROR(CheckLength(n));
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

absl::Status DocumentEncoder::RunPacked(absl::Span<const std::vector<int32_t>> docs, const model::LayerHook& hook) {
  const model::ModelConfig& c = model_->config();
  starts_.assign(1, 0);
  ids_.clear();
  for (const std::vector<int32_t>& d : docs) {
    for (size_t i = 0; i < d.size(); ++i) positions_[ids_.size() + i] = static_cast<int32_t>(i);
    ids_.insert(ids_.end(), d.begin(), d.end());
    starts_.push_back(static_cast<int32_t>(ids_.size()));
  }
  const int64_t t = static_cast<int64_t>(ids_.size());
  MNEME_RETURN_IF_ERROR(EnsureCapacity(t));
  MNEME_RETURN_IF_ERROR(block_->Embed(ids_.data(), t, x_->f32()));
  const model::PackedSeqs packed{starts_.data(), static_cast<int64_t>(docs.size())};
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    model::LayerKv kv{k_[static_cast<size_t>(l)]->f32(), v_[static_cast<size_t>(l)]->f32(), 0, capacity_};
    const bool routed = settings_->SlotOf(l) >= 0;
    MNEME_RETURN_IF_ERROR(block_->Layer(l, x_->f32(), t, positions_.data(), kv, true,
                                        routed ? hook : model::LayerHook(), packed));
  }
  return absl::OkStatus();
}

model::LayerHook DocumentEncoder::RouterKeyHook() {
  if (settings_->training_free) return model::LayerHook();
  // Router keys (msa checkpoints): Kr = h · W_kr^T, written row-aligned with the layer's K.
  return [this](int layer, const float* h, int64_t t, model::LayerKv& kv) -> absl::Status {
    const model::ModelConfig& c = model_->config();
    const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
    const int slot = settings_->SlotOf(layer);
    const model::Qwen3LayerWeights& w = model_->layer(layer);
    if (!w.router_k) return absl::InternalError(absl::StrFormat("layer %d has no router_k_proj", layer));
    float* rows = kr_[static_cast<size_t>(slot)]->f32() + kv.length * width;
    return model_->backend()->MatMul(model_->Proj(w.router_k->data(), h, rows, t, width, c.hidden_size));
  };
}

absl::Status DocumentEncoder::PoolGroup(absl::Span<const std::vector<int32_t>> docs,
                                        absl::Span<memory::PooledDocument> out) {
  const model::ModelConfig& c = model_->config();
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t pool = settings_->pooling;
  const size_t slots = settings_->routed_layers.size();
  kernels::Backend* be = model_->backend();
  int64_t chunks = 0;
  for (const std::vector<int32_t>& d : docs) chunks += (static_cast<int64_t>(d.size()) + pool - 1) / pool;
  // Layout [slot][K̄ | V̄ | K̄r][the group's chunks, document after document][width]: one copy
  // brings the whole group's memory back.
  const size_t values = slots * 3 * static_cast<size_t>(chunks * width);
  const size_t held = pooled_ ? pooled_->size_bytes() / sizeof(float) : 0;
  if (held < values) {
    pooled_.reset();
    MNEME_ASSIGN_OR_RETURN(pooled_, be->Allocate(std::max(values, 2 * held) * sizeof(float)));
  }
  const int64_t l2 = settings_->cosine ? c.head_dim : 0;
  for (size_t s = 0; s < slots; ++s) {
    const size_t l = static_cast<size_t>(settings_->routed_layers[s]);
    // Training-free routing keys are the pooled K itself.
    const float* sources[3] = {k_[l]->f32(), v_[l]->f32(), settings_->training_free ? k_[l]->f32() : kr_[s]->f32()};
    for (int a = 0; a < 3; ++a) {
      float* dst = pooled_->f32() + (s * 3 + static_cast<size_t>(a)) * static_cast<size_t>(chunks * width);
      int64_t row = 0;
      for (const std::vector<int32_t>& d : docs) {
        const int64_t n = static_cast<int64_t>(d.size());
        MNEME_RETURN_IF_ERROR(be->ChunkPool({sources[a] + row * width, dst, n, width, pool, a == 2 ? l2 : 0}));
        dst += (n + pool - 1) / pool * width;
        row += n;
      }
    }
  }
  pooled_host_.resize(values);
  MNEME_RETURN_IF_ERROR(be->CopyToHost(pooled_host_.data(), pooled_->data(), values * sizeof(float)));
  int64_t chunk_at = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    memory::PooledDocument& doc = out[i];
    const int64_t n = static_cast<int64_t>(docs[i].size());
    doc.num_tokens = n;
    doc.num_chunks = (n + pool - 1) / pool;
    std::vector<std::vector<float>>* arrays[3] = {&doc.k, &doc.v, &doc.kr};
    for (auto* arr : arrays) arr->assign(slots, {});
    for (size_t s = 0; s < slots; ++s) {
      for (int a = 0; a < 3; ++a) {
        const float* src = pooled_host_.data() + ((s * 3 + static_cast<size_t>(a)) * static_cast<size_t>(chunks) +
                                                  static_cast<size_t>(chunk_at)) * static_cast<size_t>(width);
        std::vector<float>& dst = (*arrays[a])[s];
        dst.assign(src, src + doc.num_chunks * width);
        RoundToBf16(&dst);
      }
    }
    chunk_at += doc.num_chunks;
  }
  return absl::OkStatus();
}

absl::StatusOr<memory::PooledDocument> DocumentEncoder::Encode(absl::Span<const int32_t> tokens) {
  std::vector<std::vector<int32_t>> one(1, std::vector<int32_t>(tokens.begin(), tokens.end()));
  MNEME_ASSIGN_OR_RETURN(std::vector<memory::PooledDocument> out, EncodeBatch(one));
  return std::move(out[0]);
}

absl::StatusOr<std::vector<memory::PooledDocument>> DocumentEncoder::EncodeBatch(
    absl::Span<const std::vector<int32_t>> docs) {
  for (const std::vector<int32_t>& d : docs) MNEME_RETURN_IF_ERROR(CheckLength(static_cast<int64_t>(d.size())));
  std::vector<memory::PooledDocument> out(docs.size());
  const model::LayerHook hook = RouterKeyHook();
  const int64_t batch = block_->max_batch();
  for (size_t i = 0; i < docs.size();) {
    // The longest run of documents from i that fits one forward; a document longer than a
    // forward runs alone, in batches.
    size_t j = i;
    int64_t total = 0;
    while (j < docs.size() && total + static_cast<int64_t>(docs[j].size()) <= batch) total += static_cast<int64_t>(docs[j++].size());
    if (j <= i + 1) {
      j = i + 1;
      MNEME_RETURN_IF_ERROR(Run(docs[i], hook));
    } else {
      MNEME_RETURN_IF_ERROR(RunPacked(docs.subspan(i, j - i), hook));
    }
    MNEME_RETURN_IF_ERROR(PoolGroup(docs.subspan(i, j - i), absl::MakeSpan(out).subspan(i, j - i)));
    i = j;
  }
  return out;
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
