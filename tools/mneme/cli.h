// The `mneme` command-line tool: shared types for subcommands.
//
// Commands are noun-verb (`mneme model init`) or a single verb (`mneme generate`). Exit codes:
// 0 success, 1 runtime error, 2 usage error. Global flags, accepted before or after the
// subcommand: --format json|text (default text), -q/--quiet, --backend cpu|cuda|auto,
// --precision auto|fp32|bf16,
// --data DIR (the memory directory; default $MNEME_DATA, else ./mneme-data).
#ifndef MNEME_TOOLS_MNEME_CLI_H_
#define MNEME_TOOLS_MNEME_CLI_H_

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mneme {
class SessionApi;
class StoredSession;
namespace parallel {
class Transport;
}
namespace kernels {
class Backend;
class DeviceLink;
}
}  // namespace mneme

namespace mneme::cli {

enum class Format { kText, kJson };

// A usage error (exit code 2): InvalidArgument tagged with a payload that main() recognises.
absl::Status UsageError(const std::string& message);
bool IsUsageError(const absl::Status& s);

struct FlagSpec {
  std::string name;  // without leading dashes
  bool takes_value;
  std::string help;
};

// Parsed arguments of one subcommand. Getters return UsageError for missing/ill-typed values.
class Args {
 public:
  // Parses `argv` (after the command words) against `specs`; unknown flags are usage errors.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& argv,
                                    const std::vector<FlagSpec>& specs);
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  absl::StatusOr<std::string> Required(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// Running under an MPI launcher (tools/mneme/cluster.cc): rank 0 runs the command and prints;
// the other ranks serve their shards of the memory.
class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Coordinator: the session a command uses over every rank's shard, this rank's being `shard`
  // (opened on a store that outlives the returned session).
  virtual absl::StatusOr<std::unique_ptr<SessionApi>> Coordinate(std::unique_ptr<StoredSession> shard,
                                                                 const std::string& name) = 0;
  virtual parallel::Transport* transport() = 0;
  // The device-to-device link the ranks formed at start (NCCL between distinct GPUs, for the
  // commands that move device data), bound to `backend`'s stream; null when MPI carries the
  // data. Once per command, when the backend exists.
  virtual absl::StatusOr<std::unique_ptr<kernels::DeviceLink>> TakeLink(kernels::Backend* backend) = 0;
  // --top-m, --rank-timeout-ms.
  virtual int top_m() const = 0;
  virtual int timeout_ms() const = 0;
};

struct Context {
  Format format = Format::kText;
  bool quiet = false;
  std::string backend = "auto";
  std::string precision = "auto";  // projection weights: auto | fp32 | bf16 (kernels/ops.h)
  std::string data_dir = "./mneme-data";  // --data, else $MNEME_DATA, else ./mneme-data
  // The store directory of this process: data_dir, or under a cluster this rank's shard, or
  // the one shard of a memory re-sharded to one rank (engine/parallel/placement.h).
  std::string store_dir;
  Cluster* cluster = nullptr;  // set under mpirun / srun
  std::ostream* out;  // results
  std::ostream* err;  // progress and diagnostics
};

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string Name() const = 0;  // "model init"
  virtual std::string Help() const = 0;  // one line
  virtual std::vector<FlagSpec> Flags() const = 0;
  virtual absl::Status Run(const Args& args, Context& ctx) = 0;
};

// One factory per subcommand file.
std::unique_ptr<Command> NewModelInitCommand();
std::unique_ptr<Command> NewTokenizeCommand();
std::unique_ptr<Command> NewGenerateCommand();
std::unique_ptr<Command> NewBenchForwardCommand();
std::unique_ptr<Command> NewBenchMemoryCommand();
std::unique_ptr<Command> NewBenchParallelCommand();
std::unique_ptr<Command> NewGenContractsCommand();
std::unique_ptr<Command> NewSessionCreateCommand();
std::unique_ptr<Command> NewSessionListCommand();
std::unique_ptr<Command> NewDocAddCommand();
std::unique_ptr<Command> NewDocRmCommand();
std::unique_ptr<Command> NewDocGetCommand();
std::unique_ptr<Command> NewDocListCommand();
std::unique_ptr<Command> NewSessionDescribeCommand();
std::unique_ptr<Command> NewSessionDropCommand();
std::unique_ptr<Command> NewSnapshotCreateCommand();
std::unique_ptr<Command> NewSnapshotListCommand();
std::unique_ptr<Command> NewSnapshotVerifyCommand();
std::unique_ptr<Command> NewSnapshotRestoreCommand();
std::unique_ptr<Command> NewSnapshotRmCommand();
std::unique_ptr<Command> NewCompactCommand();
std::unique_ptr<Command> NewVerifyCommand();
std::unique_ptr<Command> NewStatsCommand();
std::unique_ptr<Command> NewBenchStoreCommand();
std::unique_ptr<Command> NewRouteCommand();
std::unique_ptr<Command> NewAskCommand();

// Parses "1,2,3" into ids (usage error on anything else).
absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& s);

}  // namespace mneme::cli

#endif  // MNEME_TOOLS_MNEME_CLI_H_
