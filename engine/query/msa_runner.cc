#include "engine/query/msa_runner.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::query {

absl::StatusOr<std::unique_ptr<MsaRunner>> MsaRunner::Create(const model::Qwen3Model* model,
                                                             const model::MsaSettings* settings,
                                                             const encode::RawKv* template_kv,
                                                             const memory::MemoryIndex* index,
                                                             size_t content_cache_bytes) {
  std::unique_ptr<MsaRunner> r(new MsaRunner(model, settings, template_kv));
  const size_t layers = static_cast<size_t>(model->config().num_hidden_layers);
  r->k_.resize(layers);
  r->v_.resize(layers);
  r->kv_capacity_.assign(layers, 0);
  r->kv_length_.assign(layers, 0);
  MNEME_ASSIGN_OR_RETURN(r->logits_, model->backend()->Allocate(
                                         static_cast<size_t>(model->config().vocab_size) * sizeof(float)));
  MNEME_ASSIGN_OR_RETURN(r->local_, LocalMemory::Create(model->backend(), index, content_cache_bytes));
  r->memory_ = r->local_.get();
  return r;
}

absl::Status MsaRunner::EnsureBatch(int64_t batch) {
  if (block_ && block_->max_batch() >= batch) return absl::OkStatus();
  const model::ModelConfig& c = model_->config();
  const int64_t b = std::max<int64_t>({batch, 64, block_ ? 2 * block_->max_batch() : 0});
  MNEME_ASSIGN_OR_RETURN(block_, model::Qwen3Block::Create(model_, b));
  MNEME_ASSIGN_OR_RETURN(x_, model_->backend()->Allocate(static_cast<size_t>(b) * c.hidden_size * sizeof(float)));
  positions_.resize(static_cast<size_t>(b));
  return absl::OkStatus();
}

absl::Status MsaRunner::GrowKv(size_t layer, int64_t rows) {
  if (kv_capacity_[layer] >= rows) return absl::OkStatus();
  const model::ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t cap = std::max(rows, kv_capacity_[layer] + kv_capacity_[layer] / 2);
  const size_t bytes = static_cast<size_t>(cap * width) * sizeof(float);
  const size_t used = static_cast<size_t>(kv_length_[layer] * width) * sizeof(float);
  MNEME_ASSIGN_OR_RETURN(auto k, be->Allocate(bytes));
  MNEME_ASSIGN_OR_RETURN(auto v, be->Allocate(bytes));
  if (used > 0) {  // keep the rows already computed (growth only happens on rare long injections)
    MNEME_RETURN_IF_ERROR(be->CopyOnDevice(k->data(), k_[layer]->data(), used));
    MNEME_RETURN_IF_ERROR(be->CopyOnDevice(v->data(), v_[layer]->data(), used));
  }
  k_[layer] = std::move(k);
  v_[layer] = std::move(v);
  kv_capacity_[layer] = cap;
  return absl::OkStatus();
}

absl::Status MsaRunner::Reserve(int64_t batch, int64_t context_rows) {
  const model::ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  MNEME_RETURN_IF_ERROR(EnsureBatch(batch));
  const int64_t max_selected = memory_->MaxLoadRows(settings_->top_k);

  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const size_t i = static_cast<size_t>(l);
    kv_length_[i] = 0;
    MNEME_RETURN_IF_ERROR(GrowKv(i, template_->tokens + context_rows +
                                        (settings_->SlotOf(l) >= 0 ? max_selected : 0)));
    // Rows [0, T0): the template prefix's raw K/V.
    const size_t tbytes = static_cast<size_t>(template_->tokens * width) * sizeof(float);
    MNEME_RETURN_IF_ERROR(be->CopyToDevice(k_[i]->data(), template_->k[i].data(), tbytes));
    MNEME_RETURN_IF_ERROR(be->CopyToDevice(v_[i]->data(), template_->v[i].data(), tbytes));
    kv_length_[i] = template_->tokens;
  }
  return absl::OkStatus();
}

absl::Status MsaRunner::RouteHook(int layer, const float* h, int64_t t, model::LayerKv& kv) {
  const model::ModelConfig& c = model_->config();
  kernels::Backend* be = model_->backend();
  const int slot = settings_->SlotOf(layer);
  const int64_t hidden = c.hidden_size, q_width = int64_t{c.num_attention_heads} * c.head_dim;
  const int64_t width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t r = static_cast<int64_t>(routing_rows_.size());
  // Gather the routing tokens' normed hidden states (in backend memory) and project them to
  // routing queries, which come back to the host for the per-head normalisation and group sum.
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &h_rows_, static_cast<size_t>(r * hidden) * sizeof(float)));
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &q_rows_, static_cast<size_t>(r * q_width) * sizeof(float)));
  std::vector<int32_t> pos(static_cast<size_t>(r));
  for (int64_t i = 0; i < r;) {
    // Routing rows are mostly one run (the question's tokens): one copy per run of consecutive rows.
    const int64_t row = routing_rows_[static_cast<size_t>(i)];
    int64_t run = 1;
    while (i + run < r && routing_rows_[static_cast<size_t>(i + run)] == row + run) ++run;
    MNEME_RETURN_IF_ERROR(be->CopyOnDevice(h_rows_->f32() + i * hidden, h + row * hidden,
                                           static_cast<size_t>(run * hidden) * sizeof(float)));
    for (int64_t j = 0; j < run; ++j) pos[static_cast<size_t>(i + j)] = positions_[static_cast<size_t>(row + j)];
    i += run;
  }
  if (settings_->training_free) {
    MNEME_RETURN_IF_ERROR(block_->AttentionQueries(layer, h_rows_->f32(), r, pos.data(), q_rows_->f32()));
  } else {
    const model::Qwen3LayerWeights& w = model_->layer(layer);
    if (!w.router_q) return absl::InternalError(absl::StrFormat("layer %d has no router_q_proj", layer));
    MNEME_RETURN_IF_ERROR(be->MatMul(model_->Proj(w.router_q->data(), h_rows_->f32(), q_rows_->f32(), r, q_width, hidden)));
  }
  q_host_.resize(static_cast<size_t>(r * q_width));
  MNEME_RETURN_IF_ERROR(be->CopyToHost(q_host_.data(), q_rows_->data(), q_host_.size() * sizeof(float)));
  RouteShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim, settings_->cosine,
                   settings_->top_k};
  SumRoutingQueries(q_host_.data(), r, shape, &q_sum_);
  MNEME_ASSIGN_OR_RETURN(std::vector<ScoredDoc> docs, memory_->Select(slot, q_sum_.data(), r, settings_->top_k));
  // Append the selected documents' pooled K/V after the template, in ascending ordinal order.
  std::vector<int64_t> order;
  for (const ScoredDoc& d : docs) order.push_back(d.ordinal);
  std::sort(order.begin(), order.end());
  const int64_t room = kv.capacity - kv.length - t;
  MNEME_ASSIGN_OR_RETURN(const int64_t rows,
                         memory_->Load(slot, order, kv.k + kv.length * width, kv.v + kv.length * width, room));
  kv.length += rows;
  routing_.push_back({layer, std::move(docs)});
  return absl::OkStatus();
}

absl::Status MsaRunner::AttendHook(int layer, const float* q, int64_t t, float* out, float* lse) {
  return memory_->MergeAttention(settings_->SlotOf(layer), q, t, out, lse);
}

absl::Status MsaRunner::RunLayers(absl::Span<const int32_t> ids, bool causal, bool route,
                                  std::vector<float>* logits) {
  const model::ModelConfig& c = model_->config();
  const int64_t t = static_cast<int64_t>(ids.size());
  for (int64_t i = 0; i < t; ++i) positions_[static_cast<size_t>(i)] = next_position_ + static_cast<int32_t>(i);
  MNEME_RETURN_IF_ERROR(block_->Embed(ids.data(), t, x_->f32()));
  model::LayerHook hook = [this](int layer, const float* h, int64_t n, model::LayerKv& kv) {
    return RouteHook(layer, h, n, kv);
  };
  model::AttendHook attend = [this](int layer, const float* q, int64_t n, float* out, float* lse) {
    return AttendHook(layer, q, n, out, lse);
  };
  const bool partial = memory_->partial_attention();
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const size_t i = static_cast<size_t>(l);
    model::LayerKv kv{k_[i]->f32(), v_[i]->f32(), kv_length_[i], kv_capacity_[i]};
    const bool routed = route && settings_->SlotOf(l) >= 0;
    const bool merge = partial && settings_->SlotOf(l) >= 0;
    MNEME_RETURN_IF_ERROR(block_->Layer(l, x_->f32(), t, positions_.data(), kv, causal,
                                        routed ? hook : model::LayerHook(), {},
                                        merge ? attend : model::AttendHook()));
    kv_length_[i] = kv.length;
  }
  next_position_ += static_cast<int32_t>(t);
  MNEME_RETURN_IF_ERROR(block_->Logits(x_->f32() + (t - 1) * c.hidden_size, logits_->f32()));
  if (logits == nullptr) return absl::OkStatus();
  logits->resize(static_cast<size_t>(c.vocab_size));
  return model_->backend()->CopyToHost(logits->data(), logits_->data(), logits->size() * sizeof(float));
}

absl::Status MsaRunner::Prefill(absl::Span<const int32_t> ids, int32_t first_position,
                                const std::vector<int64_t>& routing_rows, int64_t reserve_tokens,
                                std::vector<float>* logits) {
  if (ids.empty()) return absl::InvalidArgumentError("prefill: empty input");
  if (routing_rows.empty()) return absl::InvalidArgumentError("prefill: no routing tokens");
  for (int64_t r : routing_rows) {
    if (r < 0 || r >= static_cast<int64_t>(ids.size())) {
      return absl::InvalidArgumentError(absl::StrFormat("prefill: routing row %d outside [0, %d)", r, ids.size()));
    }
  }
  const int64_t t = static_cast<int64_t>(ids.size());
  MNEME_RETURN_IF_ERROR(Reserve(t, t + std::max<int64_t>(reserve_tokens, 0)));
  routing_rows_ = routing_rows;
  routing_.clear();
  next_position_ = first_position;
  return RunLayers(ids, /*causal=*/true, /*route=*/true, logits);
}

absl::Status MsaRunner::Extend(absl::Span<const int32_t> ids, bool causal, std::vector<float>* logits) {
  if (ids.empty()) return absl::InvalidArgumentError("extend: empty input");
  if (routing_.empty()) return absl::FailedPreconditionError("extend: no prefill yet");
  const int64_t t = static_cast<int64_t>(ids.size());
  MNEME_RETURN_IF_ERROR(EnsureBatch(t));
  for (size_t l = 0; l < kv_length_.size(); ++l) MNEME_RETURN_IF_ERROR(GrowKv(l, kv_length_[l] + t));
  return RunLayers(ids, causal, /*route=*/false, logits);
}

}  // namespace mneme::query
