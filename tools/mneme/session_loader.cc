#include "tools/mneme/session_loader.h"

#include <unistd.h>

#include <chrono>
#include <ostream>
#include <set>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::cli {
namespace {

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

model::MsaOverrides OverridesOf(const memory::SessionManifest& m) {
  model::MsaOverrides o;
  o.top_k = m.top_k;
  o.pooling = m.pooling;
  o.routed_layers = m.routed_layers;
  return o;
}

absl::StatusOr<LoadedSession> LoadSession(const Context& ctx, const std::string& name, bool replay) {
  LoadedSession ls;
  MNEME_ASSIGN_OR_RETURN(ls.dir, memory::SessionDir::Open(ctx.data_dir, name));
  const memory::SessionManifest& m = ls.dir->manifest();
  SessionOptions opts;
  opts.model_dir = m.model_dir;
  MNEME_ASSIGN_OR_RETURN(opts.backend, kernels::ParseBackendKind(ctx.backend));
  opts.msa = OverridesOf(m);
  MNEME_ASSIGN_OR_RETURN(ls.session, MemorySession::Open(opts));
  if (ls.session->model_fingerprint() != m.fingerprint) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "session '%s' was created with a model of fingerprint %s, but %s now has fingerprint %s; "
        "its memory cannot be used with a different model",
        name, m.fingerprint, m.model_dir, ls.session->model_fingerprint()));
  }
  const auto& records = ls.dir->log()->records();
  std::set<int64_t> deleted;
  int64_t live = 0;
  for (const auto& r : records) {
    if (r.op == memory::DocRecord::Op::kDelete) deleted.insert(r.ordinal);
  }
  for (const auto& r : records) {
    if (r.op == memory::DocRecord::Op::kAdd && !deleted.count(r.ordinal)) ++live;
  }
  const double t0 = NowS();
  Progress progress(ctx, "loading memory", replay ? live : 0);
  int64_t done = 0, tokens = 0;
  for (const auto& r : records) {
    if (r.op != memory::DocRecord::Op::kAdd) continue;
    if (!replay || deleted.count(r.ordinal)) {
      ls.session->ReserveOrdinal();
      continue;
    }
    MNEME_ASSIGN_OR_RETURN(AppendedDocument a, ls.session->Append(r.text));
    if (a.ordinal != r.ordinal || a.id != r.id) {
      return absl::DataLossError(absl::StrFormat(
          "session '%s': replaying document %d gave ordinal %d id %016x, the log says id %016x",
          name, r.ordinal, a.ordinal, a.id, r.id));
    }
    tokens += a.tokens;
    progress.Update(++done, tokens);
  }
  progress.Finish();
  ls.replay_ms = (NowS() - t0) * 1000.0;
  return ls;
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
