// mneme compact [--session S] [--codec bf16|int8|fp8]
// mneme verify
// mneme stats
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/compaction.h"
#include "memory/store_stats.h"
#include "memory/verify.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

class CompactCommand final : public Command {
 public:
  std::string Name() const override { return "compact"; }
  std::string Help() const override {
    return "Reclaim the bytes of deleted documents; optionally re-encode segments with another codec.";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"session", true, "re-encode only this session"}, {"codec", true, "bf16, int8 or fp8"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    memory::CompactOptions o;
    if (args.Has("session")) o.session = *args.Get("session");
    if (args.Has("codec")) {
      absl::StatusOr<memory::SegmentCodec> c = memory::ParseSegmentCodec(*args.Get("codec"));
      if (!c.ok()) return UsageError(std::string(c.status().message()));
      o.codec = *c;
    }
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    MNEME_ASSIGN_OR_RETURN(memory::CompactReport r, memory::Compact(*store, o));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"bytes_before", r.bytes_before},
                            {"bytes_after", r.bytes_after},
                            {"documents_reencoded", r.documents_reencoded},
                            {"seconds", r.seconds}})
               << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << absl::StrFormat("compacted: %d -> %d bytes, %d documents re-encoded (%.2f s)\n", r.bytes_before,
                                  r.bytes_after, r.documents_reencoded, r.seconds);
    }
    return absl::OkStatus();
  }
};

class VerifyCommand final : public Command {
 public:
  std::string Name() const override { return "verify"; }
  std::string Help() const override {
    return "Check every checksum of the memory directory; exit 1 naming session/document/layer on damage.";
  }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(memory::VerifyReport r, memory::VerifyStore(*store));
    if (ctx.format == Format::kJson) {
      nlohmann::json problems = nlohmann::json::array();
      for (const auto& p : r.problems) {
        problems.push_back({{"session", p.session}, {"ordinal", p.ordinal}, {"layer", p.layer}, {"problem", p.what}});
      }
      *ctx.out << DumpJson({{"ok", r.ok()},
                            {"sessions", r.sessions},
                            {"documents", r.documents},
                            {"live_documents", r.live_documents},
                            {"segments", r.segments},
                            {"bytes_checked", r.bytes_checked},
                            {"seconds", r.seconds},
                            {"problems", problems}})
               << "\n";
    } else if (!ctx.quiet || !r.ok()) {
      for (const auto& p : r.problems) *ctx.out << "DAMAGED " << p.Describe() << "\n";
      *ctx.out << absl::StrFormat("%s: %d sessions, %d documents (%d live), %d segments, %d bytes checked in %.2f s\n",
                                  r.ok() ? "ok" : "damaged", r.sessions, r.documents, r.live_documents, r.segments,
                                  r.bytes_checked, r.seconds);
    }
    if (!r.ok()) {
      return absl::DataLossError(absl::StrFormat("%d problems; first: %s", r.problems.size(), r.problems[0].Describe()));
    }
    return absl::OkStatus();
  }
};

class StatsCommand final : public Command {
 public:
  std::string Name() const override { return "stats"; }
  std::string Help() const override { return "Sessions, documents, tokens, chunks and bytes per family and tier."; }
  std::vector<FlagSpec> Flags() const override { return {}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(memory::StoreStats st, memory::ComputeStats(*store));
    nlohmann::json sessions = nlohmann::json::array();
    int64_t host = 0;
    for (const auto& s : st.sessions) {
      host += s.host_routing_bytes + s.host_content_bytes + s.text_bytes;
      sessions.push_back({{"name", s.name},
                          {"codec", s.codec},
                          {"documents", s.documents},
                          {"live_documents", s.live_documents},
                          {"tokens", s.tokens},
                          {"chunks", s.chunks},
                          {"text_bytes", s.text_bytes},
                          {"segment_bytes", s.segment_bytes},
                          {"segment_bytes_per_token", s.tokens ? static_cast<double>(s.segment_bytes) / s.tokens : 0.0},
                          {"host_routing_bytes", s.host_routing_bytes},
                          {"host_content_bytes", s.host_content_bytes}});
    }
    nlohmann::json families = nlohmann::json::array();
    for (const auto& f : st.families) {
      families.push_back({{"name", f.name}, {"sst_bytes", f.sst_bytes}, {"blob_bytes", f.blob_bytes},
                          {"sst_files", f.sst_files}, {"blob_files", f.blob_files}});
    }
    nlohmann::json j = {{"sessions", sessions},
                        {"families", families},
                        {"tiers", {{"disk_bytes", st.disk_bytes}, {"wal_bytes", st.wal_bytes}, {"host_bytes_when_loaded", host}}},
                        {"live_tokens", st.live_tokens},
                        {"disk_bytes_per_token", st.disk_bytes_per_token()}};
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << j.dump(2) << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewCompactCommand() { return std::make_unique<CompactCommand>(); }
std::unique_ptr<Command> NewVerifyCommand() { return std::make_unique<VerifyCommand>(); }
std::unique_ptr<Command> NewStatsCommand() { return std::make_unique<StatsCommand>(); }

}  // namespace mneme::cli
