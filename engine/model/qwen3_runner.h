// The Qwen3 forward pass with a KV cache, for one sequence.
//
// Memory is bounded and allocated once in Create: the KV cache holds `max_context` tokens for
// every layer ([max_context, kv_heads, head_dim] for K and for V), and the activation workspace
// holds `max_batch_tokens` tokens. Longer inputs are processed in chunks of max_batch_tokens,
// so prefill memory does not grow with the prompt. Nothing is allocated per token.
//
// Not thread-safe: one thread drives a runner (and its model's backend) at a time.
#ifndef MNEME_ENGINE_MODEL_QWEN3_RUNNER_H_
#define MNEME_ENGINE_MODEL_QWEN3_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/qwen3_block.h"
#include "engine/model/qwen3_model.h"

namespace mneme::model {

class Qwen3Runner {
 public:
  // REQUIRES: model outlives the runner. InvalidArgument for non-positive sizes.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Qwen3Runner>> Create(
      const Qwen3Model* model, int64_t max_context, int64_t max_batch_tokens = 256);

  // Runs `ids` at positions length() .. length()+n-1, appending their K/V to the cache, and
  // copies the logits of the last token into `last_logits` (resized to vocab_size) unless it is
  // null; they stay in backend memory at logits() until the next call either way.
  // OutOfRange if the cache would exceed max_context; InvalidArgument for an empty input or an
  // id outside the vocabulary. On error the cache length is unchanged.
  [[nodiscard]] absl::Status Forward(absl::Span<const int32_t> ids,
                                     std::vector<float>* last_logits);

  // Drops the cached sequence (O(1); buffers are reused).
  void Reset() { length_ = 0; }
  int64_t length() const { return length_; }
  int64_t max_context() const { return max_context_; }
  // The last Forward's logits ([vocab_size], backend memory).
  const float* logits() const { return logits_->f32(); }
  const Qwen3Model& model() const { return *model_; }

 private:
  Qwen3Runner(const Qwen3Model* model, int64_t max_context)
      : model_(model), max_context_(max_context) {}
  // One chunk of at most max_batch tokens; `want_logits` computes the last row's logits.
  absl::Status ForwardChunk(absl::Span<const int32_t> ids, bool want_logits);

  const Qwen3Model* model_;
  const int64_t max_context_;
  int64_t length_ = 0;
  std::unique_ptr<Qwen3Block> block_;
  std::vector<std::unique_ptr<kernels::DeviceMemory>> k_cache_, v_cache_;  // per layer
  std::unique_ptr<kernels::DeviceMemory> x_, logits_;
  std::vector<int32_t> positions_;  // host, [max_batch]
};

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_QWEN3_RUNNER_H_
