// Autoregressive generation over a Qwen3Runner: prefill the prompt, then decode one token at a
// time through the KV cache.
#ifndef MNEME_ENGINE_MODEL_GENERATOR_H_
#define MNEME_ENGINE_MODEL_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/qwen3_runner.h"
#include "engine/model/sampler.h"

namespace mneme::model {

struct GenerateOptions {
  int max_new_tokens = 32;   // >= 0
  SamplingOptions sampling;  // temperature 0 = greedy
  // Stop after emitting one of `eos_ids`. Default: off, so greedy runs always produce exactly
  // max_new_tokens tokens (what parity tests compare).
  bool stop_at_eos = false;
  std::vector<int32_t> eos_ids;
};

struct GenerateResult {
  std::vector<int32_t> new_ids;
  double prefill_ms = 0.0;  // prompt forward, first token's logits included
  double decode_ms = 0.0;   // all later forwards
  bool stopped_at_eos = false;
};

// Called with each new token as soon as it is chosen; return false to stop early.
using TokenCallback = std::function<bool(int32_t id)>;

// Resets `runner`, then generates. InvalidArgument for an empty prompt or bad options;
// OutOfRange if prompt + max_new_tokens exceeds the runner's context.
[[nodiscard]] absl::StatusOr<GenerateResult> Generate(Qwen3Runner* runner,
                                                      const std::vector<int32_t>& prompt,
                                                      const GenerateOptions& opts,
                                                      const TokenCallback& on_token = nullptr);

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_GENERATOR_H_
