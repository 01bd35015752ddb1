// Entry point of the `mneme` CLI: global flags, subcommand dispatch, exit codes.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/json_util.h"
#include "kernels/ops.h"
#include "tools/mneme/cli.h"

#include <fstream>

#include "absl/strings/numbers.h"
#include "tools/mneme/cluster.h"

namespace mneme::cli {
namespace {

std::vector<std::unique_ptr<Command>> AllCommands() {
  std::vector<std::unique_ptr<Command>> c;
  c.push_back(NewModelInitCommand());
  c.push_back(NewTokenizeCommand());
  c.push_back(NewGenerateCommand());
  c.push_back(NewBenchForwardCommand());
  c.push_back(NewBenchMemoryCommand());
  c.push_back(NewBenchParallelCommand());
  c.push_back(NewGenContractsCommand());
  c.push_back(NewSessionCreateCommand());
  c.push_back(NewSessionListCommand());
  c.push_back(NewDocAddCommand());
  c.push_back(NewSessionDescribeCommand());
  c.push_back(NewSessionDropCommand());
  c.push_back(NewDocRmCommand());
  c.push_back(NewDocGetCommand());
  c.push_back(NewDocListCommand());
  c.push_back(NewSnapshotCreateCommand());
  c.push_back(NewSnapshotListCommand());
  c.push_back(NewSnapshotVerifyCommand());
  c.push_back(NewSnapshotRestoreCommand());
  c.push_back(NewSnapshotRmCommand());
  c.push_back(NewCompactCommand());
  c.push_back(NewVerifyCommand());
  c.push_back(NewStatsCommand());
  c.push_back(NewBenchStoreCommand());
  c.push_back(NewRouteCommand());
  c.push_back(NewAskCommand());
  return c;
}

void PrintUsage(std::ostream& os, const std::vector<std::unique_ptr<Command>>& cmds) {
  os << "usage: mneme [--format json|text] [-q] [--backend cpu|cuda|auto] [--precision auto|fp32|bf16]\n"
        "             [--data DIR] <command> [flags]\n\n"
        "commands:\n";
  for (const auto& c : cmds) os << "  " << c->Name() << "\n      " << c->Help() << "\n";
  os << "\n'mneme <command> --help' lists a command's flags.\n";
}

void PrintCommandHelp(std::ostream& os, const Command& c) {
  os << "usage: mneme " << c.Name() << " [flags]\n" << c.Help() << "\n\nflags:\n";
  for (const FlagSpec& f : c.Flags()) {
    os << "  --" << f.name << (f.takes_value ? " VALUE" : "") << "\n      " << f.help << "\n";
  }
}

int ReportError(const absl::Status& s, const Context& ctx) {
  const bool usage = IsUsageError(s);
  if (ctx.format == Format::kJson) {
    nlohmann::json j = {{"error",
                         {{"code", absl::StatusCodeToString(s.code())},
                          {"message", std::string(s.message())}}}};
    *ctx.out << DumpJson(j) << "\n";
  }
  *ctx.err << (usage ? "usage error: " : "error: ") << s.message() << "\n";
  if (usage) *ctx.err << "run 'mneme --help' for usage\n";
  return usage ? 2 : 1;
}

int Main(int argc, char** argv) {
  Context ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ClusterOptions cluster_opts;
  if (const char* env = std::getenv("MNEME_DATA"); env != nullptr && *env != '\0') ctx.data_dir = env;
  std::vector<std::string> rest;
  bool want_help = false;
  // Global flags may appear anywhere; everything else goes to the subcommand.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value_of = [&](const std::string& flag, std::string* out) -> bool {
      if (a == flag) {
        if (i + 1 >= argc) return false;
        *out = argv[++i];
        return true;
      }
      if (a.rfind(flag + "=", 0) == 0) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    if (a == "--format" || a.rfind("--format=", 0) == 0) {
      if (!value_of("--format", &v) || (v != "json" && v != "text")) {
        return ReportError(UsageError("--format expects json or text"), ctx);
      }
      ctx.format = v == "json" ? Format::kJson : Format::kText;
    } else if (a == "--backend" || a.rfind("--backend=", 0) == 0) {
      if (!value_of("--backend", &v)) return ReportError(UsageError("--backend needs a value"), ctx);
      ctx.backend = v;
    } else if (a == "--precision" || a.rfind("--precision=", 0) == 0) {
      if (!value_of("--precision", &v) || !kernels::ParsePrecision(v).ok()) {
        return ReportError(UsageError("--precision expects auto, fp32 or bf16"), ctx);
      }
      ctx.precision = v;
    } else if (a == "--data" || a.rfind("--data=", 0) == 0) {
      if (!value_of("--data", &v) || v.empty()) return ReportError(UsageError("--data needs a directory"), ctx);
      ctx.data_dir = v;
    } else if (a == "--parallel-mode" || a.rfind("--parallel-mode=", 0) == 0) {
      if (!value_of("--parallel-mode", &v) || (v != "exact" && v != "idsa")) {
        return ReportError(UsageError("--parallel-mode expects exact or idsa"), ctx);
      }
      cluster_opts.idsa = v == "idsa";
    } else if (a == "--top-m" || a.rfind("--top-m=", 0) == 0 || a == "--rank-timeout-ms" ||
               a.rfind("--rank-timeout-ms=", 0) == 0) {
      const std::string flag = a.rfind("--top-m", 0) == 0 ? "--top-m" : "--rank-timeout-ms";
      int n = 0;
      if (!value_of(flag, &v) || !absl::SimpleAtoi(v, &n) || n < (flag == "--top-m" ? 0 : 1)) {
        return ReportError(UsageError(flag + " expects a positive integer"), ctx);
      }
      (flag == "--top-m" ? cluster_opts.top_m : cluster_opts.timeout_ms) = n;
    } else if (a == "--transport" || a.rfind("--transport=", 0) == 0) {
      if (!value_of("--transport", &v) || (v != "auto" && v != "mpi" && v != "nccl")) {
        return ReportError(UsageError("--transport expects auto, mpi or nccl"), ctx);
      }
      cluster_opts.transport = v;
    } else if (a == "-q" || a == "--quiet") {
      ctx.quiet = true;
    } else if (a == "-h" || a == "--help" || a == "help") {
      want_help = true;
    } else {
      rest.push_back(a);
    }
  }
  auto cmds = AllCommands();
  // Match the longest command name (one or two words) at the front of `rest`.
  Command* cmd = nullptr;
  size_t words = 0;
  for (const auto& c : cmds) {
    const std::string name = c->Name();
    const size_t sp = name.find(' ');
    if (sp == std::string::npos) {
      if (!rest.empty() && rest[0] == name && words < 1) cmd = c.get(), words = 1;
    } else if (rest.size() >= 2 && rest[0] == name.substr(0, sp) && rest[1] == name.substr(sp + 1)) {
      cmd = c.get(), words = 2;
    }
  }
  if (cmd == nullptr) {
    if (want_help || rest.empty()) {
      PrintUsage(want_help ? *ctx.out : *ctx.err, cmds);
      return want_help ? 0 : 2;
    }
    return ReportError(UsageError("unknown command '" + rest[0] + "'"), ctx);
  }
  if (want_help) {
    PrintCommandHelp(*ctx.out, *cmd);
    return 0;
  }
  std::vector<std::string> cmd_args(rest.begin() + static_cast<long>(words), rest.end());
  absl::StatusOr<Args> args = Args::Parse(cmd_args, cmd->Flags());
  if (!args.ok()) return ReportError(args.status(), ctx);
  // Under mpirun / srun: every rank runs this command line (tools/mneme/cluster.h).
  absl::StatusOr<std::unique_ptr<Cluster>> cluster = StartCluster(&argc, &argv, cluster_opts);
  if (!cluster.ok()) return ReportError(cluster.status(), ctx);
  std::ofstream discard;  // never opened: other ranks print nothing on stdout
  if (*cluster) {
    ctx.cluster = cluster->get();
    if (ctx.cluster->rank() != 0) ctx.out = &discard;
    if (absl::Status p = PrepareCluster(ctx.cluster, cmd->Name(), ctx); !p.ok()) {
      return ctx.cluster->rank() == 0 ? ReportError(p, ctx) : 1;
    }
    if (ctx.cluster->rank() != 0 && ServedCommand(cmd->Name())) {
      absl::StatusOr<std::string> session = args->Required("session");
      if (!session.ok()) return 1;  // rank 0 reports the usage error
      return ServeCommand(ctx.cluster, cmd->Name(), *session, ctx).ok() ? 0 : 1;
    }
  }
  absl::Status s = cmd->Run(*args, ctx);
  if (ctx.cluster != nullptr) s = FinishCluster(ctx.cluster, cmd->Name(), s);
  if (!s.ok()) {
    const int code = ReportError(s, ctx);
    if (ctx.cluster != nullptr) FailCluster(ctx.cluster, s);
    return code;
  }
  ctx.out->flush();
  return 0;
}

}  // namespace
}  // namespace mneme::cli

int main(int argc, char** argv) { return mneme::cli::Main(argc, argv); }
