// mneme session create NAME --model DIR [--top-k K] [--routed-layers 1,2] [--pooling P]
//                      [--codec bf16|int8|fp8] [--max-docs N] [--max-age SECONDS] [--max-bytes B]
// mneme session list | describe NAME | drop NAME
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/store_stats.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

nlohmann::json SessionJson(const memory::SessionInfo& s) {
  nlohmann::json j = {{"name", s.name},
                      {"id", absl::StrFormat("%016x", s.id)},
                      {"model", s.model_dir},
                      {"fingerprint", s.fingerprint},
                      {"created_unix", s.created_unix},
                      {"routed_layers", s.layers},
                      {"kv_heads", s.kv_heads},
                      {"head_dim", s.head_dim},
                      {"codec", memory::SegmentCodecName(s.codec)},
                      {"retention",
                       {{"max_documents", s.retention.max_documents},
                        {"max_age_seconds", s.retention.max_age_seconds},
                        {"max_bytes", s.retention.max_bytes}}}};
  if (s.top_k) j["top_k"] = *s.top_k;
  if (s.pooling) j["pooling"] = *s.pooling;
  return j;
}

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
            {"pooling", true, "qwen3 (training-free) only: tokens per chunk (default 64)"},
            {"codec", true, "segment codec: bf16 (default, exact), int8 or fp8"},
            {"max-docs", true, "retention: keep at most N live documents (evicts the oldest on append)"},
            {"max-age", true, "retention: evict documents older than SECONDS on append"},
            {"max-bytes", true, "retention: keep at most B bytes of text + segments"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    if (args.positionals().size() != 1) return UsageError("session create takes exactly one NAME");
    NewSessionOptions n;
    n.name = args.positionals()[0];
    MNEME_ASSIGN_OR_RETURN(n.model_dir, args.Required("model"));
    if (args.Has("top-k")) {
      MNEME_ASSIGN_OR_RETURN(int64_t k, args.GetInt("top-k", 0));
      n.msa.top_k = static_cast<int>(k);
    }
    if (args.Has("pooling")) {
      MNEME_ASSIGN_OR_RETURN(int64_t p, args.GetInt("pooling", 0));
      n.msa.pooling = static_cast<int>(p);
    }
    if (args.Has("routed-layers")) {
      MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> layers, ParseIdList(*args.Get("routed-layers")));
      n.msa.routed_layers = std::vector<int>(layers.begin(), layers.end());
    }
    if (args.Has("codec")) {
      absl::StatusOr<memory::SegmentCodec> c = memory::ParseSegmentCodec(*args.Get("codec"));
      if (!c.ok()) return UsageError(std::string(c.status().message()));
      n.codec = *c;
    }
    MNEME_ASSIGN_OR_RETURN(n.retention.max_documents, args.GetInt("max-docs", 0));
    MNEME_ASSIGN_OR_RETURN(n.retention.max_age_seconds, args.GetInt("max-age", 0));
    MNEME_ASSIGN_OR_RETURN(n.retention.max_bytes, args.GetInt("max-bytes", 0));
    if (n.retention.max_documents < 0 || n.retention.max_age_seconds < 0 || n.retention.max_bytes < 0) {
      return UsageError("retention limits must be >= 0 (0 = unlimited)");
    }
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    MNEME_ASSIGN_OR_RETURN(memory::SessionInfo info, StoredSession::Create(store.get(), n));
    if (ctx.format == Format::kJson) {
      nlohmann::json j = SessionJson(info);
      j["session"] = info.name;
      j["data"] = ctx.data_dir;
      *ctx.out << DumpJson(j) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "created session '" << info.name << "' in " << ctx.data_dir << ": routed layers "
               << DumpJson(info.layers) << ", codec " << memory::SegmentCodecName(info.codec) << "\n";
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
    std::vector<memory::SessionInfo> sessions;
    absl::StatusOr<std::unique_ptr<memory::Store>> store = OpenStore(ctx, Access::kRead);
    if (store.ok()) {
      MNEME_ASSIGN_OR_RETURN(sessions, (*store)->ListSessions());
    } else if (!absl::IsNotFound(store.status())) {
      return store.status();
    }
    if (ctx.format == Format::kJson) {
      nlohmann::json names = nlohmann::json::array();
      for (const auto& s : sessions) names.push_back(s.name);
      *ctx.out << DumpJson({{"sessions", names}}) << "\n";
    } else {
      for (const auto& s : sessions) *ctx.out << s.name << "\n";
    }
    return absl::OkStatus();
  }
};

class SessionDescribeCommand final : public Command {
 public:
  std::string Name() const override { return "session describe"; }
  std::string Help() const override { return "Show a session's model, settings, retention and counts."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    if (args.positionals().size() != 1) return UsageError("session describe takes exactly one NAME");
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(memory::SessionInfo info, store->GetSession(args.positionals()[0]));
    MNEME_ASSIGN_OR_RETURN(memory::DocumentCounts c, memory::CountDocuments(*store, info.id));
    nlohmann::json j = SessionJson(info);
    j["documents"] = c.documents;
    j["live_documents"] = c.live_documents;
    j["tokens"] = c.tokens;
    j["chunks"] = c.chunks;
    j["stored_bytes"] = c.text_bytes + c.segment_bytes;
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << j.dump(2) << "\n";
    }
    return absl::OkStatus();
  }
};

class SessionDropCommand final : public Command {
 public:
  std::string Name() const override { return "session drop"; }
  std::string Help() const override { return "Delete a session and all its documents (compact reclaims the bytes)."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    if (args.positionals().size() != 1) return UsageError("session drop takes exactly one NAME");
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    MNEME_RETURN_IF_ERROR(store->DropSession(args.positionals()[0]));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"dropped", args.positionals()[0]}}) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "dropped session '" << args.positionals()[0] << "'\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewSessionCreateCommand() { return std::make_unique<SessionCreateCommand>(); }
std::unique_ptr<Command> NewSessionListCommand() { return std::make_unique<SessionListCommand>(); }
std::unique_ptr<Command> NewSessionDescribeCommand() { return std::make_unique<SessionDescribeCommand>(); }
std::unique_ptr<Command> NewSessionDropCommand() { return std::make_unique<SessionDropCommand>(); }

}  // namespace mneme::cli
