// Qwen3 weights resident in a backend, ready for the forward pass.
//
// Load reads config.json and the safetensors (single or sharded), upcasts 16-bit weights to
// fp32, fuses gate_proj/up_proj into one [2*inter, hidden] matrix (one GEMM per MLP) and
// uploads everything once. For msa checkpoints the router projectors of the routed layers are
// loaded too. Tensors the runtime does not use (training-only scalars such as `temperature`) are
// ignored. Immutable after Load; the backend must outlive the model.
#ifndef MNEME_ENGINE_MODEL_QWEN3_MODEL_H_
#define MNEME_ENGINE_MODEL_QWEN3_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "kernels/ops.h"

namespace mneme::model {

struct Qwen3LayerWeights {
  // Projection matrices are stored as Qwen3Model::matmul_type(); norms are fp32.
  std::unique_ptr<kernels::DeviceMemory> input_norm;  // [hidden]
  std::unique_ptr<kernels::DeviceMemory> wq;          // [heads * head_dim, hidden]
  std::unique_ptr<kernels::DeviceMemory> wk;          // [kv_heads * head_dim, hidden]
  std::unique_ptr<kernels::DeviceMemory> wv;          // [kv_heads * head_dim, hidden]
  std::unique_ptr<kernels::DeviceMemory> q_norm;      // [head_dim]
  std::unique_ptr<kernels::DeviceMemory> k_norm;      // [head_dim]
  std::unique_ptr<kernels::DeviceMemory> wo;          // [hidden, heads * head_dim]
  std::unique_ptr<kernels::DeviceMemory> post_norm;   // [hidden]
  std::unique_ptr<kernels::DeviceMemory> w_gate_up;   // [2 * inter, hidden]: gate rows, then up
  std::unique_ptr<kernels::DeviceMemory> w_down;      // [hidden, inter]
  // MSA router projectors (routed layers of msa checkpoints only; null elsewhere).
  std::unique_ptr<kernels::DeviceMemory> router_q;    // [heads * head_dim, hidden]
  std::unique_ptr<kernels::DeviceMemory> router_k;    // [kv_heads * head_dim, hidden]
};

struct LoadOptions {
  // Keep the projection weights (every matrix a MatMul reads: attention, MLP, router
  // projectors, lm_head) in bf16 on the backend: half the memory and tensor-core GEMMs with fp32
  // accumulation, activations rounded to bf16 at each product. Lossless for a bf16 checkpoint's
  // weights; norms and the embedding table stay fp32. Requires backend->supports_bf16_weights().
  bool bf16_weights = false;
};

class Qwen3Model {
 public:
  // Errors: NotFound (config.json, a weights file or a required tensor missing),
  // InvalidArgument (malformed files, wrong shapes, bf16 weights on a backend without them),
  // Unimplemented (unsupported config), ResourceExhausted (backend memory). Every message names
  // the file or tensor.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Qwen3Model>> Load(
      const std::string& model_dir, kernels::Backend* backend, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  kernels::Backend* backend() const { return backend_; }
  const Qwen3LayerWeights& layer(int i) const { return layers_[static_cast<size_t>(i)]; }
  const float* embed() const { return embed_->f32(); }            // [vocab, hidden]
  const float* final_norm() const { return final_norm_->f32(); }  // [hidden]
  const void* lm_head() const { return lm_head_ ? lm_head_->data() : embed_->data(); }
  // The element type of every projection weight (LoadOptions::bf16_weights).
  kernels::DType matmul_type() const { return matmul_type_; }
  // MatMul parameters for y[m, n] (+)= x[m, k] · w^T with projection weight `w` of this model.
  kernels::MatMulParams Proj(const void* w, const float* x, float* y, int64_t m, int64_t n,
                             int64_t k, bool accumulate = false) const {
    return {x, w, y, m, n, k, 0, accumulate, matmul_type_};
  }
  size_t weight_bytes() const { return weight_bytes_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  Qwen3Model() = default;
  ModelConfig config_;
  kernels::Backend* backend_ = nullptr;
  std::vector<Qwen3LayerWeights> layers_;
  // lm_head_ is null when tied to the embedding and the weights are fp32; with bf16 weights it
  // holds a bf16 copy of the embedding table.
  std::unique_ptr<kernels::DeviceMemory> embed_, final_norm_, lm_head_;
  kernels::DType matmul_type_ = kernels::DType::kF32;
  size_t weight_bytes_ = 0;
  std::string fingerprint_;
};

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_QWEN3_MODEL_H_
