// mneme snapshot create NAME | list | verify NAME | restore NAME --to DIR | rm NAME
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/snapshot.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

nlohmann::json SnapshotJson(const memory::SnapshotInfo& s) {
  nlohmann::json sessions = nlohmann::json::array();
  for (const auto& c : s.sessions) {
    sessions.push_back({{"name", c.name}, {"documents", c.documents}, {"live_documents", c.live_documents},
                        {"tokens", c.tokens}, {"chunks", c.chunks}});
  }
  return {{"name", s.name},   {"path", s.path},   {"created_unix", s.created_unix}, {"sequence", s.sequence},
          {"files", s.files}, {"bytes", s.bytes}, {"sessions", sessions},           {"seconds", s.seconds}};
}

void PrintText(std::ostream& os, const std::string& verb, const memory::SnapshotInfo& s) {
  int64_t docs = 0;
  for (const auto& c : s.sessions) docs += c.live_documents;
  os << verb << " snapshot '" << s.name << "': " << s.sessions.size() << " sessions, " << docs
     << " live documents, " << s.files << " files, " << s.bytes << " bytes"
     << absl::StrFormat(" (%.2f s)", s.seconds) << "\n";
}

std::string OneName(const Args& args, const std::string& cmd, absl::Status* err) {
  if (args.positionals().size() != 1) {
    *err = UsageError(cmd + " takes exactly one NAME");
    return "";
  }
  return args.positionals()[0];
}

class SnapshotCreateCommand final : public Command {
 public:
  std::string Name() const override { return "snapshot create"; }
  std::string Help() const override { return "Snapshot the memory directory (a consistent, checksummed checkpoint)."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    absl::Status err;
    const std::string name = OneName(args, "snapshot create", &err);
    MNEME_RETURN_IF_ERROR(err);
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    MNEME_ASSIGN_OR_RETURN(memory::SnapshotInfo s, memory::CreateSnapshot(*store, name));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(SnapshotJson(s)) << "\n";
    } else if (!ctx.quiet) {
      PrintText(*ctx.out, "created", s);
    }
    return absl::OkStatus();
  }
};

class SnapshotListCommand final : public Command {
 public:
  std::string Name() const override { return "snapshot list"; }
  std::string Help() const override { return "List snapshots (from their manifests; verify checks them)."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::vector<memory::SnapshotInfo> list, memory::ListSnapshots(ctx.data_dir));
    if (ctx.format == Format::kJson) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& s : list) a.push_back(SnapshotJson(s));
      *ctx.out << DumpJson({{"snapshots", a}}) << "\n";
    } else {
      for (const auto& s : list) {
        if (s.created_unix < 0) {
          *ctx.out << s.name << "  (damaged manifest)\n";
        } else {
          *ctx.out << s.name << "  " << s.bytes << " bytes, created " << s.created_unix << "\n";
        }
      }
    }
    return absl::OkStatus();
  }
};

class SnapshotVerifyCommand final : public Command {
 public:
  std::string Name() const override { return "snapshot verify"; }
  std::string Help() const override { return "Check every file and record of a snapshot; exit 1 on damage."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    absl::Status err;
    const std::string name = OneName(args, "snapshot verify", &err);
    MNEME_RETURN_IF_ERROR(err);
    MNEME_ASSIGN_OR_RETURN(memory::SnapshotInfo s, memory::VerifySnapshot(ctx.data_dir, name));
    if (ctx.format == Format::kJson) {
      nlohmann::json j = SnapshotJson(s);
      j["ok"] = true;
      *ctx.out << DumpJson(j) << "\n";
    } else if (!ctx.quiet) {
      PrintText(*ctx.out, "verified", s);
    }
    return absl::OkStatus();
  }
};

class SnapshotRestoreCommand final : public Command {
 public:
  std::string Name() const override { return "snapshot restore"; }
  std::string Help() const override { return "Verify a snapshot and restore it as a new memory directory --to DIR."; }
  std::vector<FlagSpec> Flags() const override { return {{"to", true, "new memory directory (must not exist)"}}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    absl::Status err;
    const std::string name = OneName(args, "snapshot restore", &err);
    MNEME_RETURN_IF_ERROR(err);
    MNEME_ASSIGN_OR_RETURN(std::string to, args.Required("to"));
    MNEME_ASSIGN_OR_RETURN(memory::SnapshotInfo s, memory::RestoreSnapshot(ctx.data_dir, name, to));
    if (ctx.format == Format::kJson) {
      nlohmann::json j = SnapshotJson(s);
      j["restored_to"] = to;
      *ctx.out << DumpJson(j) << "\n";
    } else if (!ctx.quiet) {
      PrintText(*ctx.out, "restored into " + to + " from", s);
    }
    return absl::OkStatus();
  }
};

class SnapshotRmCommand final : public Command {
 public:
  std::string Name() const override { return "snapshot rm"; }
  std::string Help() const override { return "Remove a snapshot."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    absl::Status err;
    const std::string name = OneName(args, "snapshot rm", &err);
    MNEME_RETURN_IF_ERROR(err);
    MNEME_RETURN_IF_ERROR(memory::RemoveSnapshot(ctx.data_dir, name));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"removed", name}}) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "removed snapshot '" << name << "'\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewSnapshotCreateCommand() { return std::make_unique<SnapshotCreateCommand>(); }
std::unique_ptr<Command> NewSnapshotListCommand() { return std::make_unique<SnapshotListCommand>(); }
std::unique_ptr<Command> NewSnapshotVerifyCommand() { return std::make_unique<SnapshotVerifyCommand>(); }
std::unique_ptr<Command> NewSnapshotRestoreCommand() { return std::make_unique<SnapshotRestoreCommand>(); }
std::unique_ptr<Command> NewSnapshotRmCommand() { return std::make_unique<SnapshotRmCommand>(); }

}  // namespace mneme::cli
