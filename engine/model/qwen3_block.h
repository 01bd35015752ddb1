// The Qwen3 decoder layer computation, shared by every forward in the engine: plain generation
// (Qwen3Runner), MSA document encoding and MSA query execution.
//
// A Qwen3Block owns the activation workspace for up to `max_batch` tokens (allocated once in
// Create) and runs one layer at a time over caller-owned hidden states `x` and a caller-owned
// KV area (LayerKv). It never allocates after Create. Not thread-safe.
#ifndef MNEME_ENGINE_MODEL_QWEN3_BLOCK_H_
#define MNEME_ENGINE_MODEL_QWEN3_BLOCK_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/qwen3_model.h"

namespace mneme::model {

// The K/V rows of one layer: k and v are [capacity, kv_heads, head_dim] in backend memory;
// rows [0, length) are filled.
struct LayerKv {
  float* k = nullptr;
  float* v = nullptr;
  int64_t length = 0;
  int64_t capacity = 0;
};

// Called at a layer right after the input RMSNorm, with h = input_layernorm(x) ([t, hidden],
// backend memory). It may read h (MSA routing and router keys) and may append rows to `kv`
// (MSA: the selected documents' pooled K/V) before the new tokens' K/V are written after them.
using LayerHook = std::function<absl::Status(int layer, const float* h, int64_t t, LayerKv& kv)>;

// Called at a layer right after its attention over the KV rows, with the rotated queries q
// ([t, heads, head_dim]), the attention output `out` ([t, heads, head_dim]) and its log-sum-exp
// `lse` ([t, heads]), all backend memory. It may replace out (and lse) by a merge with
// attentions computed elsewhere (MSA memory parallel, IDSA-style) before the output projection.
using AttendHook = std::function<absl::Status(int layer, const float* q, int64_t t, float* out, float* lse)>;

// Several independent sequences in one forward (packed document encoding): sequence s owns rows
// [starts[s], starts[s + 1]) of the batch (host memory, count + 1 entries from 0 to t), and
// each attends causally to its own rows only. count == 0: one sequence.
struct PackedSeqs {
  const int32_t* starts = nullptr;
  int64_t count = 0;
};

class Qwen3Block {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Qwen3Block>> Create(const Qwen3Model* model,
                                                                          int64_t max_batch);

  // x[t, :] = embedding of ids[t]. REQUIRES: 0 < t <= max_batch; ids checked against vocab.
  [[nodiscard]] absl::Status Embed(const int32_t* ids, int64_t t, float* x);

  // One decoder layer over x ([t, hidden], updated in place) at `positions` ([t], host): the new
  // tokens' K/V are written at rows kv.length.. and kv.length grows by t; queries attend to rows
  // [0, kv.length) causally among themselves (or fully when causal is false).
  // OutOfRange if kv would overflow its capacity. With `packed` sequences, kv must start empty
  // (InvalidArgument otherwise) and positions restart per sequence as the caller sets them.
  [[nodiscard]] absl::Status Layer(int layer, float* x, int64_t t, const int32_t* positions,
                                   LayerKv& kv, bool causal = true,
                                   const LayerHook& hook = nullptr, PackedSeqs packed = {},
                                   const AttendHook& attend = nullptr);

  // logits[vocab] = lm_head(final_norm(x_row)) for one row.
  [[nodiscard]] absl::Status Logits(const float* x_row, float* logits);

  // Projects, normalises and rotates queries for `t` rows of h (as the attention does) into
  // q_out ([t, heads, head_dim], backend memory). Used by training-free MSA routing.
  [[nodiscard]] absl::Status AttentionQueries(int layer, const float* h, int64_t t,
                                              const int32_t* positions, float* q_out);

  int64_t max_batch() const { return max_batch_; }
  const Qwen3Model& model() const { return *model_; }

 private:
  Qwen3Block(const Qwen3Model* model, int64_t max_batch) : model_(model), max_batch_(max_batch) {}
  const Qwen3Model* model_;
  const int64_t max_batch_;
  std::unique_ptr<kernels::DeviceMemory> h_, q_, attn_, lse_, gate_up_, act_;
};

}  // namespace mneme::model

#endif  // MNEME_ENGINE_MODEL_QWEN3_BLOCK_H_
