#include "engine/model/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/reference/reference_ops.h"

namespace mneme::model {

int32_t ArgMax(absl::Span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

absl::StatusOr<Sampler> Sampler::Create(const SamplingOptions& opts) {
  if (!(opts.temperature >= 0.0) || !std::isfinite(opts.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("temperature must be finite and >= 0, got %g", opts.temperature));
  }
  if (!(opts.top_p > 0.0 && opts.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrFormat("top_p must be in (0, 1], got %g", opts.top_p));
  }
  return Sampler(opts);
}

double Sampler::NextUniform() {
  if (opts_.temperature == 0.0) return 0.0;
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

absl::StatusOr<int32_t> Sampler::Sample(absl::Span<const float> logits) {
  if (logits.empty()) return absl::InvalidArgumentError("sampler: empty logits");
  return kernels::SampleReference(logits.data(), static_cast<int64_t>(logits.size()),
                                  opts_.temperature, opts_.top_p, NextUniform(), &scratch_);
}

absl::StatusOr<int32_t> Sampler::Sample(kernels::Backend* backend, const float* logits, int64_t vocab) {
  int32_t token = -1;
  MNEME_RETURN_IF_ERROR(backend->Sample({logits, vocab, opts_.temperature, opts_.top_p, NextUniform(), &token}));
  return token;
}

}  // namespace mneme::model
