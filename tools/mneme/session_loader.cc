#include "tools/mneme/session_loader.h"

#include <unistd.h>

#include <chrono>
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/parallel/placement.h"

namespace mneme::cli {
namespace {

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<memory::Store>> OpenStore(const Context& ctx, Access access) {
  memory::StoreOptions o;
  o.read_only = access == Access::kRead;
  std::string dir = ctx.store_dir;
  if (dir.empty()) {
    MNEME_ASSIGN_OR_RETURN(parallel::Manifest m, parallel::ReadManifest(ctx.data_dir));
    if (m.ranks > 1) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the memory in %s is sharded over %d ranks: run this command under 'mpirun -np %d', or re-shard "
          "it to one rank with 'mpirun -np 1'", ctx.data_dir, m.ranks, m.ranks));
    }
    dir = parallel::ShardDir(ctx.data_dir, m.generation, 0);
  }
  absl::StatusOr<std::unique_ptr<memory::Store>> s = memory::Store::Open(dir, o);
  if (absl::IsNotFound(s.status()) && access == Access::kRead) {
    return absl::NotFoundError(absl::StrFormat("no memory directory at %s (create a session first, or pass --data)",
                                               ctx.data_dir));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<SessionApi>> LoadSession(const Context& ctx, memory::Store* store,
                                                           const std::string& name) {
  StoredSessionOptions opts;
  MNEME_ASSIGN_OR_RETURN(opts.backend, kernels::ParseBackendKind(ctx.backend));
  MNEME_ASSIGN_OR_RETURN(opts.precision, kernels::ParsePrecision(ctx.precision));
  std::unique_ptr<Progress> progress;
  opts.on_load = [&](int64_t done, int64_t total, int64_t tokens) {
    if (!progress) progress = std::make_unique<Progress>(ctx, "loading memory", total);
    progress->Update(done, tokens);
  };
  absl::StatusOr<std::unique_ptr<StoredSession>> s = StoredSession::Open(store, name, opts);
  if (progress) progress->Finish();
  if (!s.ok()) return s.status();
  if (ctx.cluster != nullptr) return ctx.cluster->Coordinate(std::move(*s), name);
  return std::unique_ptr<SessionApi>(std::move(*s));
}

Progress::Progress(const Context& ctx, std::string label, int64_t total)
    : ctx_(ctx), label_(std::move(label)), total_(total),
      enabled_(total > 0 && !ctx.quiet && ::isatty(STDERR_FILENO) != 0), start_s_(NowS()) {}

void Progress::Update(int64_t done, int64_t tokens) {
  if (!enabled_) return;
  const double now = NowS();
  if (now - last_s_ < 0.1 && done < total_ && !cleared_) return;
  cleared_ = false;
  last_s_ = now;
  const double rate = tokens / std::max(now - start_s_, 1e-9);
  const double eta = done > 0 ? (now - start_s_) / done * (total_ - done) : 0.0;
  *ctx_.err << absl::StrFormat("\r%s %d/%d documents, %.0f tokens/s, ETA %.0fs   ", label_, done,
                               total_, rate, eta)
            << std::flush;
}

void Progress::Clear() {
  if (!enabled_) return;
  *ctx_.err << "\r\033[K" << std::flush;
  cleared_ = true;
}

void Progress::Finish() {
  if (enabled_) *ctx_.err << "\n";
}

}  // namespace mneme::cli
