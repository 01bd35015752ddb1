// The embedded API: a memory session bound to one model.
//
// A MemorySession owns the model (weights on its backend), the tokenizer, the MSA settings, the
// encoded query-template prefix and the in-memory index of its documents. Documents are encoded
// once, alone, at append (docs/msa.md §1) and become routable by the next query; deletion is a
// tombstone. Route() shows each routed layer's selection; Ask() runs the full MSA query with
// memory interleaving (docs/msa.md §4), streaming tokens through a callback.
//
// Memory lives in RAM here; engine/stored_session.h binds a session to the persistent store.
// Thread safety: none; callers serialise calls on one session.
#ifndef MNEME_ENGINE_ENGINE_H_
#define MNEME_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/msa_settings.h"
#include "engine/model/sampler.h"
#include "engine/query/msa_runner.h"
#include "kernels/ops.h"

namespace mneme {

namespace tokenizer {
class Tokenizer;
}
namespace memory {
class MemoryIndex;
struct PooledDocument;
}

struct SessionOptions {
  std::string model_dir;                                  // HF layout, qwen3 or msa
  kernels::BackendKind backend = kernels::BackendKind::kAuto;
  kernels::Precision precision = kernels::Precision::kAuto;  // projection weights (ops.h)
  model::MsaOverrides msa;                                // top_k / routed layers
  // Encoder workspace (tokens per forward batch); 0 picks 256 on the CPU, 4096 on a GPU (whose
  // GEMMs need rows to fill the chip).
  int64_t encode_batch_tokens = 0;
  // Backend memory for the cache of routed documents' content K̄/V̄ (engine/query/content_cache.h)
  // on a GPU; 0 picks 1024 MiB, or less (halving down to 64 MiB, then none) on a GPU short of
  // memory. Unused on the CPU, which reads the index in place.
  int64_t content_cache_mb = 0;
};

struct AppendedDocument {
  int64_t ordinal;
  uint64_t id;      // stable 64-bit id derived from (ordinal, text)
  int64_t tokens;   // templated tokens encoded
  int64_t chunks;
};

struct RouteResult {
  std::vector<query::LayerRouting> layers;
  double ms = 0.0;  // prefill of the query template + routing of every routed layer
  std::vector<float> logits;  // the prefill's last-token logits [vocab] (comparing modes)
};

struct AskOptions {
  int max_new_tokens = 256;       // over all rounds
  int max_rounds = 4;             // >= 1; 1 = no re-prefill
  model::SamplingOptions sampling;  // temperature 0 = greedy (MSA's default)
  bool causal_injection = false;  // false: reference-exact bidirectional question injection
};

struct AskRound {
  std::vector<query::LayerRouting> routing;
  std::vector<int32_t> new_ids;    // generated in this round (injected tokens excluded)
  std::vector<int64_t> injected;   // ordinals whose text was injected at the end of the round
};

struct AskResult {
  std::string answer;   // after "The answer to the question is:" when present
  std::string text;     // everything generated, injections included
  std::vector<AskRound> rounds;
  int64_t ignored_ids = 0;  // emitted [i] that named no live document
  int64_t new_tokens = 0;
  double prefill_ms = 0.0, decode_ms = 0.0, total_ms = 0.0;
  // Of decode_ms: host time spent issuing the decode steps (Extend returns once its work is
  // queued on the backend) and time spent in Sample, which waits for the step to finish. Issue
  // time close to decode_ms means the host, not the device, sets the decode rate.
  double decode_issue_ms = 0.0, decode_sample_ms = 0.0;
};

// The stable 64-bit id of the document appended as `ordinal` with `text`.
uint64_t DocumentId(int64_t ordinal, std::string_view text);

class MemorySession {
 public:
  // Loads the model, tokenizer and MSA settings and encodes the template prefix.
  // Errors as Qwen3Model::Load and Tokenizer::FromFile; InvalidArgument for bad overrides or a
  // tokenizer without the MSA special tokens.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemorySession>> Open(const SessionOptions& opts);
  ~MemorySession();

  // Encodes `text` as the next ordinal's document. InvalidArgument for empty text or invalid
  // UTF-8 (with the byte offset); OutOfRange if the templated document exceeds the model's
  // positions (callers split long documents first, see SplitForPositions).
  [[nodiscard]] absl::StatusOr<AppendedDocument> Append(std::string_view text);

  // Adds an already-encoded document as the next ordinal (warm restart from a store, or
  // benchmarks that replicate memory). `doc` must come from this session's model and settings;
  // InvalidArgument if its shape does not match.
  [[nodiscard]] absl::StatusOr<int64_t> AppendPooled(memory::PooledDocument doc, std::string text);

  // The pooled memory Append would store for `text` at `ordinal`, without adding it.
  [[nodiscard]] absl::StatusOr<memory::PooledDocument> Encode(int64_t ordinal, std::string_view text);
  // Encode for texts[i] at ordinal first_ordinal + i, several documents per forward
  // (DocumentEncoder::EncodeBatch): what a GPU needs to keep its GEMMs full on short documents.
  [[nodiscard]] absl::StatusOr<std::vector<memory::PooledDocument>> EncodeBatch(
      int64_t first_ordinal, const std::vector<std::string_view>& texts);

  // EncodeBatch for texts[i] at ordinals[i] (any ordinals: a shard's documents are not consecutive).
  [[nodiscard]] absl::StatusOr<std::vector<memory::PooledDocument>> EncodeBatch(
      const std::vector<int64_t>& ordinals, const std::vector<std::string_view>& texts);
  // The chunks `text` would take as document `ordinal`, without running the model (placement
  // before encoding). The errors Encode gives for empty, invalid or too long text.
  [[nodiscard]] absl::StatusOr<int64_t> PlanChunks(int64_t ordinal, std::string_view text) const;

  // Routes and attends over `memory` from the next Route/Ask on instead of this session's own
  // index (null: back to it); the memory-parallel layer passes a memory sharded across ranks
  // whose local part is local_memory(). REQUIRES: `memory` outlives its use.
  void UseMemory(query::RoutedMemory* memory);
  // The session's own index as a routed memory (routing mirror and content cache).
  query::LocalMemory* local_memory();
  kernels::Backend* backend() const;
  const model::ModelConfig& model_config() const;

  // Reserves the next ordinal without a document in this session's memory (replaying a log
  // where it was deleted, or appending where earlier documents are held elsewhere).
  int64_t ReserveOrdinal();

  // Tombstones a document: it stops routing at once. NotFound / FailedPrecondition.
  [[nodiscard]] absl::Status Delete(int64_t ordinal);

  // Per routed layer, the documents a question selects (first round, no generation).
  [[nodiscard]] absl::StatusOr<RouteResult> Route(std::string_view question);

  // Answers a question over the memory. FailedPrecondition if the memory holds no live document.
  [[nodiscard]] absl::StatusOr<AskResult> Ask(std::string_view question, const AskOptions& opts,
                                              const std::function<void(int32_t)>& on_token = nullptr);

  // Splits `text` at whitespace into parts whose templated encodings fit the model's positions.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> SplitForPositions(std::string_view text) const;

  const model::MsaSettings& settings() const;
  int kv_heads() const;
  int head_dim() const;
  const memory::MemoryIndex& index() const;
  const tokenizer::Tokenizer& tokenizer() const;
  const std::string& model_fingerprint() const;
  std::string backend_name() const;
  // The content cache of the query runner; null on backends without one (cpu).
  const query::ContentCache* content_cache() const;

 private:
  struct Impl;
  explicit MemorySession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mneme

#endif  // MNEME_ENGINE_ENGINE_H_
