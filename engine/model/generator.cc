#include "engine/model/generator.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::model {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

absl::StatusOr<GenerateResult> Generate(Qwen3Runner* runner, const std::vector<int32_t>& prompt,
                                        const GenerateOptions& opts,
                                        const TokenCallback& on_token) {
  if (prompt.empty()) return absl::InvalidArgumentError("generate: empty prompt");
  if (opts.max_new_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("generate: max_new_tokens must be >= 0, got %d", opts.max_new_tokens));
  }
  // The last generated token is never fed back, hence the -1.
  const int64_t needed = static_cast<int64_t>(prompt.size()) + std::max(opts.max_new_tokens - 1, 0);
  if (needed > runner->max_context()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "generate: prompt of %d tokens + %d new tokens exceeds the context of %d tokens",
        prompt.size(), opts.max_new_tokens, runner->max_context()));
  }
  MNEME_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(opts.sampling));
  GenerateResult result;
  if (opts.max_new_tokens == 0) return result;
  result.new_ids.reserve(static_cast<size_t>(opts.max_new_tokens));
  runner->Reset();
  // Logits stay in backend memory: the backend samples and only the token comes back.
  kernels::Backend* be = runner->model().backend();
  const int64_t vocab = runner->model().config().vocab_size;
  auto t0 = std::chrono::steady_clock::now();
  MNEME_RETURN_IF_ERROR(runner->Forward(prompt, nullptr));
  result.prefill_ms = MsSince(t0);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < opts.max_new_tokens; ++i) {
    if (i > 0) {
      const int32_t prev = result.new_ids.back();
      MNEME_RETURN_IF_ERROR(runner->Forward(absl::MakeConstSpan(&prev, 1), nullptr));
    }
    MNEME_ASSIGN_OR_RETURN(int32_t next, sampler.Sample(be, runner->logits(), vocab));
    result.new_ids.push_back(next);
    const bool keep_going = !on_token || on_token(next);
    if (opts.stop_at_eos &&
        std::find(opts.eos_ids.begin(), opts.eos_ids.end(), next) != opts.eos_ids.end()) {
      result.stopped_at_eos = true;
      break;
    }
    if (!keep_going) break;
  }
  result.decode_ms = MsSince(t0);
  return result;
}

}  // namespace mneme::model
