// Opening the memory directory and its sessions for CLI commands: the store (read-write for
// commands that change it, read-only for those that only read, so they work while another
// process writes), and the warm-restarted engine session with a progress bar.
#ifndef MNEME_TOOLS_MNEME_SESSION_LOADER_H_
#define MNEME_TOOLS_MNEME_SESSION_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/session_api.h"
#include "engine/stored_session.h"
#include "memory/store.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {

enum class Access { kRead, kWrite };

// Opens this process's store (ctx.store_dir, else ctx.data_dir; a memory re-sharded to one
// rank resolves to its shard, one sharded over several ranks is FailedPrecondition outside mpirun). kRead never creates and takes no lock; kWrite creates the
// directory if needed and fails with FailedPrecondition while another process writes.
absl::StatusOr<std::unique_ptr<memory::Store>> OpenStore(const Context& ctx, Access access);

// Warm-restarts session `name` (model load + memory rebuilt from the store); under a cluster,
// this rank's shard of it, coordinating the others (tools/mneme/cluster.h).
absl::StatusOr<std::unique_ptr<SessionApi>> LoadSession(const Context& ctx, memory::Store* store,
                                                           const std::string& name);

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
