// The MSA parameters a session runs with (docs/msa.md): which layers route, how many documents
// each selects, the chunk size and the similarity. Derived from an `msa` checkpoint's
// msa_config, or chosen for a plain `qwen3` checkpoint (training-free mode: pooled attention keys
// route, attention queries ask), and overridable by the user.
#ifndef MNEME_ENGINE_MODEL_MSA_SETTINGS_H_
#define MNEME_ENGINE_MODEL_MSA_SETTINGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"

namespace mneme::model {

struct MsaSettings {
  std::vector<int> routed_layers;  // ascending decoder-layer indices
  int top_k = 16;
  int pooling = 64;        // tokens per chunk
  bool cosine = false;     // cosine similarity (aux_loss_method == "INFONCE") else q·k/sqrt(D)
  bool training_free = false;  // no router projectors: Kr = K̄, Qr = attention queries

  // Slot of `layer` among routed_layers, or -1.
  int SlotOf(int layer) const;
  std::string Describe() const;
};

struct MsaOverrides {
  std::optional<int> top_k;
  std::optional<std::vector<int>> routed_layers;  // training-free mode only
  std::optional<int> pooling;                     // training-free mode only
};

// For model_type msa: from msa_config (overrides.top_k may replace k). For qwen3: training-free
// with the upper half of the layers routed (or overrides.routed_layers), k = 16, pooling 64,
// scaled dot. InvalidArgument for k < 1, layers out of range, or routed-layer overrides on an msa
// checkpoint (its projectors fix them).
[[nodiscard]] absl::StatusOr<MsaSettings> ResolveMsaSettings(const ModelConfig& config,
                                                             const MsaOverrides& overrides);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_MSA_SETTINGS_H_
