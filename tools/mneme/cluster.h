// The CLI under an MPI launcher (docs/parallel.md): `mpirun -np N mneme <command>` runs the same
// command line on every rank. Start() brings the memory directory to N ranks (re-sharding from
// the stores when N changed), then rank 0 runs the command and prints once, while every other
// rank serves its shard to rank 0 and logs to stderr only. A lost rank turns the command's
// result into UNAVAILABLE naming it; Fail() then shuts the survivors down and ends the job.
#ifndef MNEME_TOOLS_MNEME_CLUSTER_H_
#define MNEME_TOOLS_MNEME_CLUSTER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {

struct ClusterOptions {
  bool idsa = false;   // --parallel-mode idsa
  int top_m = 0;       // --top-m (IDSA local top m; 0 = ceil(1.25 k / N))
  int timeout_ms = 30000;  // --rank-timeout-ms: a rank silent this long is lost
  std::string transport = "auto";  // --transport auto|mpi|nccl (auto: NCCL where every rank has its own GPU)
};

// Null (and OK) when the process was not started by an MPI launcher. Unimplemented when the
// binary was built without MPI but an MPI launcher started it.
absl::StatusOr<std::unique_ptr<Cluster>> StartCluster(int* argc, char*** argv, const ClusterOptions& opts);

// Collective: every rank calls it before running `command`. Rank 0 re-shards ctx.data_dir when
// needed; each rank then points ctx.store_dir at its shard. InvalidArgument for a command that
// does not run under a cluster.
absl::Status PrepareCluster(Cluster* cluster, const std::string& command, Context& ctx);

// Worker ranks: serves `command`'s session (its --session) until rank 0 is done.
absl::Status ServeCommand(Cluster* cluster, const std::string& command, const std::string& session, Context& ctx);

// Whether `command` needs the other ranks to serve (doc add/rm, route, ask).
bool ServedCommand(const std::string& command);

// Every rank, after `command` ran with `status`: rank 0 lets the workers of a served command
// leave their loops; for commands every rank runs itself, a failure on any rank is what rank 0
// reports (session create), or ends the job (bench parallel, whose other ranks would wait).
// Returns the status this rank should report.
absl::Status FinishCluster(Cluster* cluster, const std::string& command, const absl::Status& status);

// After a command on rank 0 failed with `status`: if a rank was lost, tells the others to exit
// and ends the MPI job (never returns); otherwise returns.
void FailCluster(Cluster* cluster, const absl::Status& status);

}  // namespace mneme::cli

#endif  // MNEME_TOOLS_MNEME_CLUSTER_H_
