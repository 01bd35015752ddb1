// Next-token selection from logits: greedy, or seeded temperature + top-p (nucleus) sampling,
// by the rule of kernels/ops.h SampleParams (the backend's Sample op; on host logits the CPU
// reference). Deterministic for a given seed on every platform: the uniform draw is our own from
// a 64-bit Mersenne Twister (no std:: distributions, whose output is implementation-defined),
// one draw per sampled token (none when greedy).
#ifndef MNEME_ENGINE_MODEL_SAMPLER_H_
#define MNEME_ENGINE_MODEL_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/ops.h"

namespace mneme::model {

struct SamplingOptions {
  // 0 means greedy (argmax, lowest id on ties). Must be >= 0 and finite.
  double temperature = 0.0;
  // Keep the smallest set of most likely tokens whose probability mass reaches top_p.
  // In (0, 1]. Default: 1 (no truncation).
  double top_p = 1.0;
  uint64_t seed = 0;
};

class Sampler {
 public:
  // InvalidArgument for a negative/non-finite temperature or top_p outside (0, 1].
  [[nodiscard]] static absl::StatusOr<Sampler> Create(const SamplingOptions& opts);

  // Picks a token id from `logits` ([vocab]). InvalidArgument if logits are empty or contain
  // NaN. Reuses internal scratch; not thread-safe.
  [[nodiscard]] absl::StatusOr<int32_t> Sample(absl::Span<const float> logits);

  // The same choice over logits ([vocab]) in `backend` memory, made on the backend: only the
  // token crosses to the host.
  [[nodiscard]] absl::StatusOr<int32_t> Sample(kernels::Backend* backend, const float* logits,
                                               int64_t vocab);

 private:
  explicit Sampler(const SamplingOptions& opts) : opts_(opts), rng_(opts.seed) {}
  // The next uniform in [0, 1) (53 random bits); 0 without a draw when greedy.
  double NextUniform();
  SamplingOptions opts_;
  std::mt19937_64 rng_;
  std::vector<double> scratch_;  // host sampling's probabilities, reused token after token
};

// Index of the largest value; the lowest index wins ties (as torch.argmax).
int32_t ArgMax(absl::Span<const float> logits);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_SAMPLER_H_
