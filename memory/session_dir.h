// A session's directory inside a memory directory: <data>/sessions/<name>/ holding
// session.json (the manifest: model, fingerprint, MSA overrides), docs.jsonl (DocLog) and LOCK.
// Opening takes an exclusive advisory lock on LOCK, so one process writes a session at a time; a
// second opener gets FailedPrecondition. Format: docs/format/doc_log.md.
#ifndef MNEME_MEMORY_SESSION_DIR_H_
#define MNEME_MEMORY_SESSION_DIR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/doc_log.h"

namespace mneme::memory {

struct SessionManifest {
  std::string name;
  std::string model_dir;    // absolute
  std::string fingerprint;  // of the model's tensors (WeightSource::Fingerprint)
  int64_t created_unix = 0;
  std::optional<int> top_k, pooling;
  std::optional<std::vector<int>> routed_layers;
};

class SessionDir {
 public:
  // InvalidArgument for a bad name ([A-Za-z0-9._-], 1..64 chars, not starting with '.');
  // AlreadyExists if the session exists.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SessionDir>> Create(const std::string& data_dir,
                                                                         const SessionManifest& m);
  // NotFound naming the session and the data directory; FailedPrecondition if another process
  // holds it; DataLoss for a damaged manifest or log.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SessionDir>> Open(const std::string& data_dir,
                                                                       const std::string& name);
  [[nodiscard]] static absl::StatusOr<std::vector<std::string>> List(const std::string& data_dir);
  ~SessionDir();

  const SessionManifest& manifest() const { return manifest_; }
  DocLog* log() { return log_.get(); }

 private:
  SessionDir() = default;
  SessionManifest manifest_;
  std::unique_ptr<DocLog> log_;
  int lock_fd_ = -1;
};

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_SESSION_DIR_H_
