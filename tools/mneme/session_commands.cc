// mneme session create NAME --model DIR [--top-k K] [--routed-layers 1,2] [--pooling P]
// mneme session list
#include <chrono>
#include <filesystem>
#include <ostream>

#include "common/json_util.h"
#include "common/status.h"
#include "engine/engine.h"
#include "memory/session_dir.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

class SessionCreateCommand final : public Command {
 public:
  std::string Name() const override { return "session create"; }
  std::string Help() const override {
    return "Create a memory session NAME bound to a model (msa or qwen3 checkpoint).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory (HF layout)"},
            {"top-k", true, "documents each routed layer selects (default: the checkpoint's, or 16)"},
            {"routed-layers", true, "qwen3 (training-free) only: comma list of routed layers"},
            {"pooling", true, "qwen3 (training-free) only: tokens per chunk (default 64)"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    if (args.positionals().size() != 1) return UsageError("session create takes exactly one NAME");
    memory::SessionManifest m;
    m.name = args.positionals()[0];
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    std::error_code ec;
    m.model_dir = std::filesystem::absolute(model_dir, ec).lexically_normal().string();
    if (args.Has("top-k")) {
      MNEME_ASSIGN_OR_RETURN(int64_t k, args.GetInt("top-k", 0));
      m.top_k = static_cast<int>(k);
    }
    if (args.Has("pooling")) {
      MNEME_ASSIGN_OR_RETURN(int64_t p, args.GetInt("pooling", 0));
      m.pooling = static_cast<int>(p);
    }
    if (args.Has("routed-layers")) {
      MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> layers, ParseIdList(*args.Get("routed-layers")));
      m.routed_layers = std::vector<int>(layers.begin(), layers.end());
    }
    // Load the model once: validates it and the overrides, and fixes the fingerprint.
    SessionOptions opts;
    opts.model_dir = m.model_dir;
    opts.backend = kernels::BackendKind::kCpu;
    opts.msa = OverridesOf(m);
    MNEME_ASSIGN_OR_RETURN(auto session, MemorySession::Open(opts));
    m.fingerprint = session->model_fingerprint();
    m.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    MNEME_ASSIGN_OR_RETURN(auto dir, memory::SessionDir::Create(ctx.data_dir, m));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"session", m.name}, {"data", ctx.data_dir}, {"model", m.model_dir},
                            {"fingerprint", m.fingerprint}, {"msa", session->settings().Describe()}})
               << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "created session '" << m.name << "' in " << ctx.data_dir << ": "
               << session->settings().Describe() << "\n";
    }
    return absl::OkStatus();
  }
};

class SessionListCommand final : public Command {
 public:
  std::string Name() const override { return "session list"; }
  std::string Help() const override { return "List the sessions of the memory directory."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::vector<std::string> names, memory::SessionDir::List(ctx.data_dir));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"sessions", names}}) << "\n";
    } else {
      for (const auto& n : names) *ctx.out << n << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewSessionCreateCommand() { return std::make_unique<SessionCreateCommand>(); }
std::unique_ptr<Command> NewSessionListCommand() { return std::make_unique<SessionListCommand>(); }

}  // namespace mneme::cli
