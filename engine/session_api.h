// What the CLI and the server ask of a memory session, whether it lives in this process
// (StoredSession) or is sharded across MPI ranks with this process as coordinator
// (parallel::ParallelSession). Ordinals are the session's own (global across shards).
#ifndef MNEME_ENGINE_SESSION_API_H_
#define MNEME_ENGINE_SESSION_API_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace mneme {

namespace tokenizer {
class Tokenizer;
}

struct DocumentInput;
struct StoredAppend;

class SessionApi {
 public:
  virtual ~SessionApi() = default;
  // Appends docs in order; `done` receives every document made durable, also when a later one
  // fails (the error is returned).
  [[nodiscard]] virtual absl::Status AppendBatch(const std::vector<DocumentInput>& docs,
                                                 std::vector<StoredAppend>* done) = 0;
  // The ordinal the next appended document gets.
  virtual int64_t next_ordinal() const = 0;
  [[nodiscard]] virtual absl::Status Delete(int64_t ordinal) = 0;
  [[nodiscard]] virtual absl::StatusOr<RouteResult> Route(std::string_view question) = 0;
  [[nodiscard]] virtual absl::StatusOr<AskResult> Ask(std::string_view question, const AskOptions& opts,
                                                      const std::function<void(int32_t)>& on_token = nullptr) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> SplitForPositions(std::string_view text) const = 0;
  virtual int64_t live_documents() const = 0;
  virtual double load_ms() const = 0;
  virtual std::string backend_name() const = 0;
  virtual const tokenizer::Tokenizer& tokenizer() const = 0;
};

}  // namespace mneme

#endif  // MNEME_ENGINE_SESSION_API_H_
