// Opening a session for a CLI command: the session directory (manifest, document log, lock) and
// the engine session bound to its model, with the document log replayed into memory when the
// command needs the memory (route, ask). Until the persistent store lands (issue #4) replay
// re-encodes every live document: it is deterministic, so the memory equals the one built at
// `doc add` time.
#ifndef MNEME_TOOLS_MNEME_SESSION_LOADER_H_
#define MNEME_TOOLS_MNEME_SESSION_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "memory/session_dir.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {

struct LoadedSession {
  std::unique_ptr<memory::SessionDir> dir;
  std::unique_ptr<MemorySession> session;
  double replay_ms = 0.0;
};

// Overrides recorded in a manifest, as the engine takes them.
model::MsaOverrides OverridesOf(const memory::SessionManifest& m);

// Opens session `name` under ctx.data_dir. replay=false only reserves the logged ordinals (for
// appending). FailedPrecondition if the model's fingerprint no longer matches the session's.
absl::StatusOr<LoadedSession> LoadSession(const Context& ctx, const std::string& name, bool replay);

// Writes "\r<label> done/total, N tokens/s, ETA" to stderr when it is a terminal and not quiet.
class Progress {
 public:
  Progress(const Context& ctx, std::string label, int64_t total);
  void Update(int64_t done, int64_t tokens);
  // Erases the bar so a result line can be printed on the same terminal; Update redraws it.
  void Clear();
  void Finish();

 private:
  const Context& ctx_;
  std::string label_;
  int64_t total_;
  bool enabled_;
  double start_s_;
  double last_s_ = 0.0;
  bool cleared_ = false;
};

}  // namespace mneme::cli

#endif  // MNEME_TOOLS_MNEME_SESSION_LOADER_H_
