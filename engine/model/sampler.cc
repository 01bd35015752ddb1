#include "engine/model/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

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

absl::StatusOr<int32_t> Sampler::Sample(absl::Span<const float> logits) {
  if (logits.empty()) return absl::InvalidArgumentError("sampler: empty logits");
  for (float v : logits) {
    if (std::isnan(v)) return absl::InvalidArgumentError("sampler: logits contain NaN");
  }
  if (opts_.temperature == 0.0) return ArgMax(logits);

  // Softmax at temperature T over all tokens, in double for a stable cumulative sum.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  scratch_.resize(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double p = std::exp((static_cast<double>(logits[i]) - max_logit) / opts_.temperature);
    scratch_[i] = {static_cast<float>(p), static_cast<int32_t>(i)};
    total += p;
  }
  // Most likely first; lower id first on equal probability, so the order is deterministic.
  std::sort(scratch_.begin(), scratch_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  size_t keep = scratch_.size();
  double kept_mass = total;
  if (opts_.top_p < 1.0) {
    double cum = 0.0;
    for (size_t i = 0; i < scratch_.size(); ++i) {
      cum += scratch_[i].first;
      if (cum >= opts_.top_p * total) {
        keep = i + 1;
        kept_mass = cum;
        break;
      }
    }
  }
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept_mass;  // [0, mass)
  double cum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cum += scratch_[i].first;
    if (u < cum) return scratch_[i].second;
  }
  return scratch_[keep - 1].second;
}

}  // namespace mneme::model
