#include "tools/mneme/cluster.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/parallel/mpi_transport.h"
#include "engine/parallel/parallel_session.h"
#include "engine/parallel/placement.h"
#include "engine/parallel/transport_choice.h"
#include "engine/parallel/worker.h"
#include "kernels/device_link.h"
#include "kernels/ops.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {

class MpiCluster final : public Cluster {
 public:
  MpiCluster(std::unique_ptr<parallel::MpiTransport> t, const ClusterOptions& o) : transport_(std::move(t)), opts_(o) {}
  int rank() const override { return transport_->rank(); }
  int size() const override { return transport_->size(); }

  absl::StatusOr<std::unique_ptr<SessionApi>> Coordinate(std::unique_ptr<StoredSession> shard,
                                                         const std::string& name) override {
    parallel::ShardedOptions so;
    so.mode = opts_.idsa ? parallel::Mode::kIdsa : parallel::Mode::kExact;
    so.top_m = opts_.top_m;
    so.timeout = std::chrono::milliseconds(opts_.timeout_ms);
    const int64_t next = manifest_.next_ordinal.count(name) ? manifest_.next_ordinal.at(name) : 0;
    std::cerr << absl::StrFormat("mneme: memory parallel over %d ranks, %s mode\n", size(), opts_.idsa ? "idsa" : "exact");
    MNEME_ASSIGN_OR_RETURN(std::unique_ptr<kernels::DeviceLink> link, TakeLink(shard->memory().backend()));
    MNEME_ASSIGN_OR_RETURN(auto s, parallel::ParallelSession::Open(transport_.get(), parallel::Shard::Stored(std::move(shard)),
                                                                    so, next, std::move(link)));
    return std::unique_ptr<SessionApi>(std::move(s));
  }

  // The NCCL link the ranks formed in PrepareCluster, bound to `backend`'s stream; else null.
  absl::StatusOr<std::unique_ptr<kernels::DeviceLink>> TakeLink(kernels::Backend* backend) override {
    if (link_ == nullptr) return std::unique_ptr<kernels::DeviceLink>();
    MNEME_RETURN_IF_ERROR(link_->Bind(backend));
    return std::move(link_);
  }
  std::unique_ptr<kernels::DeviceLink> link_;  // set by PrepareCluster for NCCL

  parallel::MpiTransport* transport() override { return transport_.get(); }
  int top_m() const override { return opts_.top_m; }
  int timeout_ms() const override { return opts_.timeout_ms; }
  const ClusterOptions& options() const { return opts_; }
  parallel::Manifest manifest_;

 private:
  std::unique_ptr<parallel::MpiTransport> transport_;
  ClusterOptions opts_;
};

namespace {

const std::set<std::string>& ClusterCommands() {
  static const std::set<std::string> c = {"session create", "doc add", "doc rm", "route", "ask", "bench parallel"};
  return c;
}

// Ends the process if it is still alive `timeout_ms` after construction and not destroyed by
// then: for calls that wait on other ranks where no deadline reaches (NCCL's set-up).
class SetupWatchdog {
 public:
  SetupWatchdog(int rank, int timeout_ms)
      : thread_([this, rank, timeout_ms] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return done_; })) return;
          std::fprintf(stderr, "mneme rank %d: NCCL set-up did not complete within %d ms (a rank is gone or stalled); "
                               "leaving the job\n", rank, timeout_ms);
          std::fflush(stderr);
          std::_Exit(14);
        }) {}
  ~SetupWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Commands whose device data may cross ranks (the link is made for these only).
bool NeedsLink(const std::string& command) { return command == "route" || command == "ask" || command == "bench parallel"; }

// Which device each rank drives and the transport that follows (a collective; rank 0 says it
// once; parallel::ChooseTransport decides). For NCCL the ranks then form the communicator here,
// where they are all in step, and agree on the outcome: if any rank's set-up fails, every rank
// drops its link and MPI carries the data (or, with --transport nccl, the command fails).
absl::Status ChooseTransport(MpiCluster* c, const std::string& command, Context& ctx) {
  const int device = ctx.backend != "cpu" ? kernels::CudaDeviceForThisProcess() : -1;
  const std::string mine = c->transport()->hosts()[static_cast<size_t>(c->rank())] + ":" + kernels::DeviceIdentity(device);
  MNEME_ASSIGN_OR_RETURN(std::vector<std::string> all, c->transport()->AllGather(mine));
  MNEME_ASSIGN_OR_RETURN(parallel::TransportChoice choice, parallel::ChooseTransport(all, c->options().transport));
  std::string why = choice.why;
  if (choice.nccl && !NeedsLink(command)) {
    why = "no device data crosses ranks in " + command;
  } else if (choice.nccl) {
    // Every rank says whether it can load NCCL ("!why") and rank 0 adds the id ("+id"); the set-up
    // runs only when all can (a rank that cannot would leave the others waiting inside NCCL).
    std::string mine_nccl;
    if (absl::Status loadable = kernels::NcclLoadable(); !loadable.ok()) {
      mine_nccl = "!" + std::string(loadable.message());
    } else if (c->rank() == 0) {
      absl::StatusOr<std::string> made = kernels::NcclUniqueId();
      mine_nccl = made.ok() ? "+" + *made : "!" + std::string(made.status().message());
    }
    MNEME_ASSIGN_OR_RETURN(std::vector<std::string> reports, c->transport()->AllGather(mine_nccl));
    absl::StatusOr<std::string> agreed = parallel::AgreeNcclId(reports);
    const std::string id = agreed.ok() ? *agreed : std::string();
    if (!agreed.ok()) why = std::string(agreed.status().message());
    absl::Status made = absl::OkStatus();
    if (!id.empty()) {
      // NCCL's set-up waits for every rank inside NCCL, where no deadline reaches: a watchdog
      // ends this rank if it takes longer than the request deadline (mpirun then ends the job).
      // Not shorter than 20 s: a healthy set-up over many GPUs or hosts can take seconds.
      SetupWatchdog watchdog(c->rank(), std::max(c->options().timeout_ms, 20000));
      absl::StatusOr<std::unique_ptr<kernels::DeviceLink>> link = kernels::NewNcclLink(device, c->rank(), c->size(), id);
      if (link.ok()) c->link_ = std::move(*link);
      made = link.status();
    }
    MNEME_ASSIGN_OR_RETURN(std::vector<std::string> errors,
                           c->transport()->AllGather(made.ok() ? std::string() : std::string(made.message())));
    if (!id.empty()) {
      for (size_t r = 0; r < errors.size(); ++r) {
        if (errors[r].empty()) continue;
        why = absl::StrFormat("NCCL set-up failed on rank %d: %s", r, errors[r]);
        break;
      }
    }
    if (!why.empty()) c->link_.reset();  // every rank the same way
    if (!why.empty() && c->options().transport == "nccl") return absl::FailedPreconditionError("--transport nccl: " + why);
  }
  if (c->rank() == 0) {
    if (c->link_ != nullptr) {
      *ctx.err << absl::StrFormat("mneme: %d ranks on %d GPUs; NCCL moves K/V rows, queries and partial outputs "
                                  "device to device (MPI carries the requests)\n", c->size(), choice.devices);
    } else {
      *ctx.err << absl::StrFormat("mneme: %d ranks on %d %s; transport MPI through page-locked host buffers (%s)\n",
                                  c->size(), choice.devices, choice.all_gpu ? "GPUs" : "devices", why);
    }
  }
  return absl::OkStatus();
}

}  // namespace

// Commands every rank runs itself (each its part), as opposed to served ones.
bool SelfRunCommand(const std::string& command) { return command == "session create" || command == "bench parallel"; }

bool ServedCommand(const std::string& command) { return !SelfRunCommand(command) && ClusterCommands().count(command) > 0; }

absl::StatusOr<std::unique_ptr<Cluster>> StartCluster(int* argc, char*** argv, const ClusterOptions& opts) {
  if (!parallel::MpiTransport::Launched()) return std::unique_ptr<Cluster>();
  MNEME_ASSIGN_OR_RETURN(auto t, parallel::MpiTransport::Init(argc, argv));
  return std::unique_ptr<Cluster>(new MpiCluster(std::move(t), opts));
}

absl::Status PrepareCluster(Cluster* cluster, const std::string& command, Context& ctx) {
  auto* c = static_cast<MpiCluster*>(cluster);
  MNEME_RETURN_IF_ERROR(ChooseTransport(c, command, ctx));
  absl::Status st;
  if (ClusterCommands().count(command) == 0) {
    st = absl::InvalidArgumentError(absl::StrFormat(
        "'%s' does not run under mpirun; run it as one process (session create, doc add, doc rm, route and ask do)",
        command));
  } else if (command == "bench parallel") {
    return absl::OkStatus();  // in memory: no directory
  } else if (c->rank() == 0) {
    std::error_code ec;
    std::filesystem::create_directories(ctx.data_dir, ec);
    absl::StatusOr<parallel::ReshardReport> r = parallel::EnsureRanks(ctx.data_dir, c->size());
    if (!r.ok()) {
      st = r.status();
    } else if (r->from_ranks != r->to_ranks && r->documents > 0) {
      *ctx.err << absl::StrFormat("mneme: re-sharded %s from %d to %d ranks: %d documents, %d chunks moved as stored\n",
                                  ctx.data_dir, r->from_ranks, r->to_ranks, r->documents, r->chunks);
    }
  }
  // Everyone learns whether rank 0 got the directory ready (a one-byte status per rank).
  MNEME_ASSIGN_OR_RETURN(std::vector<std::string> oks, c->transport()->AllGather(st.ok() ? "1" : "0"));
  if (!st.ok()) return st;
  if (oks[0] != "1") return absl::AbortedError("rank 0 could not prepare the memory directory");
  MNEME_ASSIGN_OR_RETURN(c->manifest_, parallel::ReadManifest(ctx.data_dir));
  if (c->manifest_.ranks != c->size()) return absl::InternalError("the placement manifest names another rank count");
  ctx.store_dir = parallel::ShardDir(ctx.data_dir, c->manifest_.generation, c->rank());
  std::filesystem::create_directories(ctx.store_dir);
  return absl::OkStatus();
}

absl::Status ServeCommand(Cluster* cluster, const std::string& command, const std::string& session, Context& ctx) {
  auto* c = static_cast<MpiCluster*>(cluster);
  const Access access = command == "doc add" || command == "doc rm" ? Access::kWrite : Access::kRead;
  absl::Status st = [&]() -> absl::Status {
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, access));
    StoredSessionOptions so;
    MNEME_ASSIGN_OR_RETURN(so.backend, kernels::ParseBackendKind(ctx.backend));
    MNEME_ASSIGN_OR_RETURN(so.precision, kernels::ParsePrecision(ctx.precision));
    MNEME_ASSIGN_OR_RETURN(auto stored, StoredSession::Open(store.get(), session, so));
    std::unique_ptr<parallel::Shard> shard = parallel::Shard::Stored(std::move(stored));
    *ctx.err << absl::StrFormat("mneme rank %d (pid %d): serving %s of session '%s'\n", c->rank(), ::getpid(),
                                ctx.store_dir, session);
    ctx.err->flush();
    MNEME_ASSIGN_OR_RETURN(std::unique_ptr<kernels::DeviceLink> link, c->TakeLink(shard->memory().backend()));
    std::string reason;
    absl::Status served = parallel::ServeShard(c->transport(), shard.get(),
                                               std::chrono::milliseconds(c->options().timeout_ms), &reason, link.get());
    if (served.ok()) return absl::OkStatus();
    return served;
  }();
  if (!st.ok()) {
    // A worker that cannot serve (its shard failed to open, or rank 0 was lost) leaves the job.
    *ctx.err << absl::StrFormat("mneme rank %d: %s\n", c->rank(), std::string(st.message()));
    ctx.err->flush();
    c->transport()->Abandon();
    MPI_Abort(MPI_COMM_WORLD, 14);
  }
  return st;
}

absl::Status FinishCluster(Cluster* cluster, const std::string& command, const absl::Status& status) {
  auto* c = static_cast<MpiCluster*>(cluster);
  if (ServedCommand(command)) {
    if (c->rank() == 0) {
      parallel::ShutdownWorkers(c->transport(),
                                status.ok() ? "rank 0 finished" : "rank 0 failed: " + std::string(status.message()));
    }
    return status;
  }
  if (command == "bench parallel") {
    if (c->rank() != 0 && !status.ok()) {  // rank 0 and the others may be waiting on this rank
      std::cerr << absl::StrFormat("mneme rank %d: %s\n", c->rank(), std::string(status.message()));
      std::cerr.flush();
      c->transport()->Abandon();
      MPI_Abort(MPI_COMM_WORLD, 14);
    }
    return status;
  }
  // session create: every rank did its part; rank 0 reports the first failure of any.
  MNEME_ASSIGN_OR_RETURN(std::vector<std::string> errors,
                         c->transport()->AllGather(status.ok() ? std::string() : std::string(status.message())));
  if (c->rank() != 0 || !status.ok()) return status;
  for (size_t r = 1; r < errors.size(); ++r) {
    if (!errors[r].empty()) return absl::InternalError(absl::StrFormat("rank %d: %s", r, errors[r]));
  }
  return status;
}

void FailCluster(Cluster* cluster, const absl::Status& status) {
  if (!absl::IsUnavailable(status)) return;
  auto* c = static_cast<MpiCluster*>(cluster);
  std::cout.flush();
  std::cerr << absl::StrFormat("mneme: stopping the %d-rank job: %s\n", c->size(), std::string(status.message()));
  std::cerr.flush();
  c->transport()->Abandon();
  // Ends every rank, the lost one included (a stalled process would otherwise keep the
  // launcher waiting); the survivors have been told to leave by the session's shutdown.
  MPI_Abort(MPI_COMM_WORLD, 14);
}

}  // namespace mneme::cli
