#include "engine/model/qwen3_model.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "common/status.h"
#include "engine/model/weight_source.h"

namespace mneme::model {
namespace {

// Reads tensors from `src` into backend memory through one reusable host staging buffer.
class Uploader {
 public:
  Uploader(const WeightSource* src, kernels::Backend* be, size_t* total)
      : src_(src), be_(be), total_(total) {}

  // Reads each named tensor (with its expected shape) into consecutive rows of one buffer,
  // stored as fp32, or as bf16 (round to nearest even) when `bf16`.
  absl::StatusOr<std::unique_ptr<kernels::DeviceMemory>> Load(
      const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts, bool bf16 = false) {
    size_t numel = 0;
    for (const auto& [name, shape] : parts) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      numel += static_cast<size_t>(n);
    }
    staging_.resize(std::max(staging_.size(), numel));
    size_t at = 0;
    for (const auto& [name, shape] : parts) {
      MNEME_RETURN_IF_ERROR(src_->ReadF32(name, shape, staging_.data() + at));
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      at += static_cast<size_t>(n);
    }
    const void* host = staging_.data();
    size_t bytes = numel * sizeof(float);
    if (bf16) {
      staging16_.resize(std::max(staging16_.size(), numel));
      for (size_t i = 0; i < numel; ++i) staging16_[i] = FloatToBf16(staging_[i]);
      host = staging16_.data();
      bytes = numel * sizeof(uint16_t);
    }
    MNEME_ASSIGN_OR_RETURN(auto mem, be_->Allocate(bytes));
    MNEME_RETURN_IF_ERROR(be_->CopyToDevice(mem->data(), host, bytes));
    *total_ += bytes;
    return mem;
  }
  absl::StatusOr<std::unique_ptr<kernels::DeviceMemory>> Load(const std::string& name,
                                                              std::vector<int64_t> shape,
                                                              bool bf16 = false) {
    return Load({{name, std::move(shape)}}, bf16);
  }

 private:
  const WeightSource* src_;
  kernels::Backend* be_;
  size_t* total_;
  std::vector<float> staging_;
  std::vector<uint16_t> staging16_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Qwen3Model>> Qwen3Model::Load(const std::string& model_dir,
                                                             kernels::Backend* backend,
                                                             const LoadOptions& options) {
  if (options.bf16_weights && !backend->supports_bf16_weights()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bf16 weights requested but the %s backend computes with fp32 weights only", backend->name()));
  }
  std::unique_ptr<Qwen3Model> m(new Qwen3Model());
  m->backend_ = backend;
  const bool b16 = options.bf16_weights;
  m->matmul_type_ = b16 ? kernels::DType::kBf16 : kernels::DType::kF32;
  MNEME_ASSIGN_OR_RETURN(m->config_, LoadModelConfig(model_dir));
  MNEME_ASSIGN_OR_RETURN(std::unique_ptr<WeightSource> src, WeightSource::Open(model_dir));
  m->fingerprint_ = src->Fingerprint();
  const ModelConfig& c = m->config_;
  const int64_t h = c.hidden_size, d = c.head_dim, inter = c.intermediate_size;
  const int64_t q_out = int64_t{c.num_attention_heads} * d;
  const int64_t kv_out = int64_t{c.num_key_value_heads} * d;
  Uploader up(src.get(), backend, &m->weight_bytes_);

  MNEME_ASSIGN_OR_RETURN(m->embed_, up.Load("model.embed_tokens.weight", {c.vocab_size, h}));
  MNEME_ASSIGN_OR_RETURN(m->final_norm_, up.Load("model.norm.weight", {h}));
  if (!c.tie_word_embeddings || b16) {  // tied + bf16: a bf16 copy of the table for the GEMM
    MNEME_ASSIGN_OR_RETURN(m->lm_head_, up.Load(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight",
                                                {c.vocab_size, h}, b16));
  }
  m->layers_.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrFormat("model.layers.%d.", l);
    Qwen3LayerWeights& w = m->layers_[static_cast<size_t>(l)];
    MNEME_ASSIGN_OR_RETURN(w.input_norm, up.Load(p + "input_layernorm.weight", {h}));
    MNEME_ASSIGN_OR_RETURN(w.wq, up.Load(p + "self_attn.q_proj.weight", {q_out, h}, b16));
    MNEME_ASSIGN_OR_RETURN(w.wk, up.Load(p + "self_attn.k_proj.weight", {kv_out, h}, b16));
    MNEME_ASSIGN_OR_RETURN(w.wv, up.Load(p + "self_attn.v_proj.weight", {kv_out, h}, b16));
    MNEME_ASSIGN_OR_RETURN(w.q_norm, up.Load(p + "self_attn.q_norm.weight", {d}));
    MNEME_ASSIGN_OR_RETURN(w.k_norm, up.Load(p + "self_attn.k_norm.weight", {d}));
    MNEME_ASSIGN_OR_RETURN(w.wo, up.Load(p + "self_attn.o_proj.weight", {h, q_out}, b16));
    MNEME_ASSIGN_OR_RETURN(w.post_norm, up.Load(p + "post_attention_layernorm.weight", {h}));
    MNEME_ASSIGN_OR_RETURN(w.w_gate_up, up.Load({{p + "mlp.gate_proj.weight", {inter, h}},
                                                 {p + "mlp.up_proj.weight", {inter, h}}}, b16));
    MNEME_ASSIGN_OR_RETURN(w.w_down, up.Load(p + "mlp.down_proj.weight", {h, inter}, b16));
    if (c.msa && std::find(c.msa->router_layers.begin(), c.msa->router_layers.end(), l) !=
                     c.msa->router_layers.end()) {
      MNEME_ASSIGN_OR_RETURN(w.router_q, up.Load(p + "self_attn.router_q_proj.0.weight", {q_out, h}, b16));
      MNEME_ASSIGN_OR_RETURN(w.router_k, up.Load(p + "self_attn.router_k_proj.0.weight", {kv_out, h}, b16));
    }
  }
  return m;
}

}  // namespace mneme::model
