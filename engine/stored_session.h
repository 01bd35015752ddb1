// A memory session backed by the persistent store: what the CLI and the server use.
//
// Create() records a session bound to a model (fingerprint, resolved routed layers and KV shape,
// codec, retention). Open() loads the model and rebuilds the in-memory index from the store
// without re-encoding anything (warm restart), streaming one document at a time. Append()
// encodes a document, writes metadata, text and every routed layer's segment in one synced
// batch, and only then makes it routable: when it returns, the document is durable. With an
// 8-bit codec the index holds the decoded values, so answers before and after a restart match.
//
// Thread safety: every method may be called from any thread; calls on one session are
// serialised (a query never sees a partial document). Several sessions share one Store.
#ifndef MNEME_ENGINE_STORED_SESSION_H_
#define MNEME_ENGINE_STORED_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/session_api.h"
#include "memory/records.h"

namespace mneme {

namespace memory {
class Store;
}
namespace tokenizer {
class Tokenizer;
}

struct NewSessionOptions {
  std::string name;
  std::string model_dir;  // made absolute
  model::MsaOverrides msa;
  memory::SegmentCodec codec = memory::SegmentCodec::kBf16;
  memory::Retention retention;
};

struct StoredSessionOptions {
  kernels::BackendKind backend = kernels::BackendKind::kAuto;
  kernels::Precision precision = kernels::Precision::kAuto;
  int64_t encode_batch_tokens = 0;  // 0: the engine's default for the backend
  // Called while loading: (documents loaded, documents in the store, tokens loaded).
  std::function<void(int64_t, int64_t, int64_t)> on_load;
};

struct DocumentInput {
  std::string_view text;
  std::string source;
  std::vector<std::string> tags;
  int64_t part_of = -1;
  // Memory parallel: the ordinal across every shard, which the document's template and id use
  // (engine/parallel); -1 when the session is not a shard (the local ordinal is used).
  int64_t global_ordinal = -1;
};

struct StoredAppend {
  AppendedDocument doc;
  std::vector<int64_t> evicted;  // tombstoned by the session's retention in the same batch
};

class StoredSession final : public SessionApi {
 public:
  // Loads the model once to validate it and the overrides, then records the session.
  // AlreadyExists / InvalidArgument / the model loader's errors.
  [[nodiscard]] static absl::StatusOr<memory::SessionInfo> Create(memory::Store* store, const NewSessionOptions& opts);

  // Warm restart. NotFound for an unknown session; FailedPrecondition if the model's
  // fingerprint or routed layers no longer match the session; DataLoss for damaged memory.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<StoredSession>> Open(memory::Store* store, std::string_view name,
                                                                          const StoredSessionOptions& opts);
  ~StoredSession();

  // Durable when it returns. Errors as MemorySession::Append, FailedPrecondition for a
  // read-only store, and the store's errors (nothing becomes routable then).
  [[nodiscard]] absl::StatusOr<StoredAppend> Append(const DocumentInput& doc);
  // Append for each of docs in order (ordinals next_ordinal(), next_ordinal() + 1, ...), encoded
  // several per forward (MemorySession::EncodeBatch), then made durable one by one. `done`
  // receives every document made durable, also when a later one fails (the error is returned;
  // nothing after the failing document is stored).
  [[nodiscard]] absl::Status AppendBatch(const std::vector<DocumentInput>& docs, std::vector<StoredAppend>* done) override;
  // The ordinal the next appended document gets.
  int64_t next_ordinal() const override;
  [[nodiscard]] absl::Status Delete(int64_t ordinal) override;
  [[nodiscard]] absl::StatusOr<RouteResult> Route(std::string_view question) override;
  [[nodiscard]] absl::StatusOr<AskResult> Ask(std::string_view question, const AskOptions& opts,
                                              const std::function<void(int32_t)>& on_token = nullptr) override;
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> SplitForPositions(std::string_view text) const override;

  const memory::SessionInfo& info() const { return info_; }
  // The global ordinal of local document `ordinal` (engine/parallel shards), or `ordinal` itself
  // for a document stored without one. REQUIRES: ordinal < next_ordinal().
  int64_t global_ordinal(int64_t ordinal) const;
  // The engine session, for the memory-parallel layer, which serialises its calls with this
  // session's own (both run on one thread there).
  MemorySession& memory() { return *session_; }
  int64_t live_documents() const override;
  double load_ms() const override { return load_ms_; }
  std::string backend_name() const override;
  const tokenizer::Tokenizer& tokenizer() const override;

 private:
  StoredSession() = default;
  absl::Status Load(const StoredSessionOptions& opts);
  // Stores an encoded document as `ordinal` durably and adds it to the memory. REQUIRES: mu_ held.
  absl::StatusOr<StoredAppend> StoreEncoded(const DocumentInput& in, int64_t ordinal, memory::PooledDocument doc);

  mutable std::mutex mu_;
  memory::Store* store_ = nullptr;
  memory::SessionInfo info_;
  uint64_t fingerprint_ = 0;
  std::unique_ptr<MemorySession> session_;
  double load_ms_ = 0.0;
  std::vector<int64_t> global_;  // local ordinal -> effective ordinal
};

}  // namespace mneme

#endif  // MNEME_ENGINE_STORED_SESSION_H_
