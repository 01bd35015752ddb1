// The parts of a Hugging Face `config.json` that mneme's runtime needs, validated.
//
// Supported: model_type "qwen3" (Qwen3ForCausalLM) and "msa" (MSAForCausalLM: Qwen3 plus a
// document router configured by the nested "msa_config"). Keys not listed here are ignored.
// Defaults for absent keys follow transformers' Qwen3Config: num_key_value_heads =
// num_attention_heads, head_dim = hidden_size / num_attention_heads, rms_norm_eps = 1e-6,
// rope_theta = 10000, max_position_embeddings = 32768, hidden_act = "silu",
// tie_word_embeddings = false (checkpoints that tie say so explicitly), dtype = "float32".
#ifndef MNEME_ENGINE_MODEL_MODEL_CONFIG_H_
#define MNEME_ENGINE_MODEL_MODEL_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::model {

enum class ModelType { kQwen3, kMsa };

// The MSA document-router settings ("msa_config" of a model_type "msa" config).
struct MsaConfig {
  // Layers that route, ascending and unique, each in [0, num_hidden_layers). From
  // "router_layer_idx": the string "all", a comma list such as "18,19,20", or a JSON int list.
  std::vector<int> router_layers;
  int top_k_docs = 16;  // "doc_top_k" wins over "top_k_docs" when both are present
  int pooling_kernel_size = 64;
  bool decouple_router = true;
  std::string aux_loss_method;  // "" when absent

  // Cosine-similarity routing is used iff aux_loss_method is exactly "INFONCE".
  bool cosine_routing() const { return aux_loss_method == "INFONCE"; }

  std::string head_reduce_method = "mean";
  std::string query_reduce_method = "max";
  std::string chunk_reduce_method = "max";
};

struct ModelConfig {
  ModelType model_type = ModelType::kQwen3;
  std::string source;  // the file (or description) the config was read from

  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::string dtype = "float32";  // "float32", "bfloat16" or "float16"
  int max_position_embeddings = 32768;
  std::vector<int> eos_token_ids;  // from eos_token_id: an int, a list, or null (-> empty)

  std::optional<MsaConfig> msa;  // set iff model_type == kMsa
};

// Parses and validates config.json text; `source` names it in error messages and is stored in
// ModelConfig::source. Errors (each naming `source` and the offending key):
//   InvalidArgument  malformed JSON, not an object, a missing required key (model_type,
//                    vocab_size, hidden_size, intermediate_size, num_hidden_layers,
//                    num_attention_heads; msa_config.router_layer_idx for msa), a value of the
//                    wrong type or out of range (sizes must be positive, num_attention_heads
//                    divisible by num_key_value_heads, router layers unique and in range), or an
//                    unknown model_type ("unknown model_type 'llama' in <source>; supported:
//                    qwen3, msa");
//   Unimplemented    a valid config mneme cannot run: rope_type other than "default" (in
//                    rope_parameters or rope_scaling), use_sliding_window true, a layer_types
//                    entry other than "full_attention", hidden_act other than "silu",
//                    attention_bias true.
[[nodiscard]] absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text,
                                                           std::string_view source);

// Reads and parses `model_dir/config.json`. Errors: those of ParseModelConfig, plus NotFound /
// PermissionDenied if the file cannot be read.
[[nodiscard]] absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_MODEL_CONFIG_H_
