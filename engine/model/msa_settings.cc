#include "engine/model/msa_settings.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mneme::model {

int MsaSettings::SlotOf(int layer) const {
  auto it = std::find(routed_layers.begin(), routed_layers.end(), layer);
  return it == routed_layers.end() ? -1 : static_cast<int>(it - routed_layers.begin());
}

std::string MsaSettings::Describe() const {
  return absl::StrFormat("routed layers [%s], top_k %d, pooling %d, %s routing%s",
                         absl::StrJoin(routed_layers, ","), top_k, pooling,
                         cosine ? "cosine" : "scaled-dot", training_free ? " (training-free)" : "");
}

absl::StatusOr<MsaSettings> ResolveMsaSettings(const ModelConfig& config,
                                               const MsaOverrides& overrides) {
  MsaSettings s;
  const int layers = config.num_hidden_layers;
  if (config.msa) {
    if (overrides.routed_layers || overrides.pooling) {
      return absl::InvalidArgumentError(
          "routed layers and pooling are fixed by an msa checkpoint's training; they cannot be "
          "overridden");
    }
    const MsaConfig& m = *config.msa;
    // Only the reference's inference configuration is implemented (MSA-SPEC §0, §2); anything
    // else would silently compute something the checkpoint was not trained for.
    if (!m.decouple_router) {
      return absl::UnimplementedError(absl::StrFormat(
          "%s: msa_config.decouple_router=false is not supported (only decoupled router keys)",
          config.source));
    }
    if (m.head_reduce_method != "mean" || m.query_reduce_method != "max" ||
        m.chunk_reduce_method != "max") {
      return absl::UnimplementedError(absl::StrFormat(
          "%s: routing reductions head=%s query=%s chunk=%s are not supported; mneme implements "
          "head=mean query=max chunk=max",
          config.source, m.head_reduce_method, m.query_reduce_method, m.chunk_reduce_method));
    }
    s.routed_layers = config.msa->router_layers;
    s.top_k = config.msa->top_k_docs;
    s.pooling = config.msa->pooling_kernel_size;
    s.cosine = config.msa->cosine_routing();
  } else {
    s.training_free = true;
    if (overrides.routed_layers) {
      s.routed_layers = *overrides.routed_layers;
    } else {
      for (int l = layers / 2; l < layers; ++l) s.routed_layers.push_back(l);
    }
    if (overrides.pooling) s.pooling = *overrides.pooling;
  }
  if (overrides.top_k) s.top_k = *overrides.top_k;
  std::sort(s.routed_layers.begin(), s.routed_layers.end());
  s.routed_layers.erase(std::unique(s.routed_layers.begin(), s.routed_layers.end()),
                        s.routed_layers.end());
  if (s.routed_layers.empty()) return absl::InvalidArgumentError("no routed layers");
  for (int l : s.routed_layers) {
    if (l < 0 || l >= layers) {
      return absl::InvalidArgumentError(
          absl::StrFormat("routed layer %d outside the model's %d layers", l, layers));
    }
  }
  if (s.top_k < 1) return absl::InvalidArgumentError(absl::StrFormat("top_k must be >= 1, got %d", s.top_k));
  if (s.pooling < 1) return absl::InvalidArgumentError("pooling kernel size must be >= 1");
  return s;
}

}  // namespace mneme::model
