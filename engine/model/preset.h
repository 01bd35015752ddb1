// Random checkpoints in the Hugging Face layout, for tests, demos and benchmarks
// (`mneme model init`). A checkpoint is config.json, model.safetensors (bf16),
// generation_config.json, tokenizer.json (a byte-level BPE trained on a built-in corpus, with
// the special tokens the MSA templates need) and tokenizer_config.json.
#ifndef MNEME_ENGINE_MODEL_PRESET_H_
#define MNEME_ENGINE_MODEL_PRESET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mneme::model {

struct PresetSpec {
  std::string name;
  int hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads, head_dim;
  int bpe_merges;  // merges learned for the tokenizer
  double rope_theta;
  bool tie_word_embeddings;
  int max_position_embeddings;
  bool msa = false;  // model_type "msa": router projectors on the upper half of the layers
  int top_k_docs = 16;
};

// "tiny" (2 layers, hidden 64: for tests), "small" (8 layers, hidden 512: for benchmarks) or
// "4b" (Qwen3-4B's shape: 36 layers, hidden 2560; GPU benchmarks), and their MSA twins
// "tiny-msa" / "small-msa" / "4b-msa" (the reference checkpoint format, MSA-SPEC §10:
// router_q_proj.0 / router_k_proj.0 on the upper half of the layers, scaled-dot routing as
// aux_loss_method "INFONCE_DECOUPLE" selects).
// InvalidArgument naming the known presets otherwise.
[[nodiscard]] absl::StatusOr<PresetSpec> FindPreset(const std::string& name);

// The special tokens every preset tokenizer carries (MSA-SPEC §4 templates).
const std::vector<std::string>& PresetSpecialTokens();

struct WrittenCheckpoint {
  std::string dir;
  int vocab_size;
  int64_t parameters;
  std::vector<std::string> files;
};

// Writes a checkpoint with weights drawn from N(0, 0.02) (norm weights 1) by a generator
// seeded with `seed`: the same seed gives byte-identical files. Creates `out_dir` (and its
// parents) if needed; FailedPrecondition if it already holds a config.json.
[[nodiscard]] absl::StatusOr<WrittenCheckpoint> WritePresetCheckpoint(const PresetSpec& spec,
                                                                      uint64_t seed,
                                                                      const std::string& out_dir);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_PRESET_H_
