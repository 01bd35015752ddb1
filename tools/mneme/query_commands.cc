// mneme route --session NAME --question STR
// mneme ask --session NAME --question STR [--max-tokens N] [--max-rounds R] [--temperature T]
//           [--seed S] [--causal-injection]
#include <ostream>

#include <iostream>

#include "common/json_util.h"
#include "common/status.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

nlohmann::json RoutingJson(const std::vector<query::LayerRouting>& layers) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : layers) {
    nlohmann::json docs = nlohmann::json::array();
    for (const auto& d : l.docs) docs.push_back({{"ordinal", d.ordinal}, {"score", d.score}});
    out.push_back({{"layer", l.layer}, {"docs", docs}});
  }
  return out;
}

void PrintRoutingText(std::ostream& os, const std::vector<query::LayerRouting>& layers) {
  for (const auto& l : layers) {
    os << "layer " << l.layer << ":";
    for (const auto& d : l.docs) os << " [" << d.ordinal << "] " << d.score;
    os << "\n";
  }
}

class RouteCommand final : public Command {
 public:
  std::string Name() const override { return "route"; }
  std::string Help() const override { return "Show which documents each routed layer selects for a question."; }
  std::vector<FlagSpec> Flags() const override {
    return {{"session", true, "session name"},
            {"question", true, "the question"},
            {"questions-stdin", false, "route each line of standard input as a question, with the memory loaded once"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    const bool many = args.Has("questions-stdin");
    std::string question;
    if (!many) {
      MNEME_ASSIGN_OR_RETURN(question, args.Required("question"));
    } else if (args.Has("question")) {
      return UsageError("give --question or --questions-stdin, not both");
    }
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(auto session, LoadSession(ctx, store.get(), name));
    auto route_one = [&](const std::string& q) -> absl::Status {
      MNEME_ASSIGN_OR_RETURN(RouteResult r, session->Route(q));
      if (ctx.format == Format::kJson) {
        *ctx.out << DumpJson({{"layers", RoutingJson(r.layers)},
                              {"timings", {{"route_ms", r.ms}, {"load_ms", session->load_ms()}}}})
                 << "\n";
      } else {
        PrintRoutingText(*ctx.out, r.layers);
      }
      ctx.out->flush();
      return absl::OkStatus();
    };
    if (!many) return route_one(question);
    for (std::string line; std::getline(std::cin, line);) {
      if (!line.empty()) MNEME_RETURN_IF_ERROR(route_one(line));
    }
    return absl::OkStatus();
  }
};

class AskCommand final : public Command {
 public:
  std::string Name() const override { return "ask"; }
  std::string Help() const override {
    return "Answer a question over a session's memory (MSA routing + memory interleaving).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"session", true, "session name"},
            {"question", true, "the question"},
            {"max-tokens", true, "tokens to generate over all rounds (default 256)"},
            {"max-rounds", true, "retrieval rounds, >= 1 (default 4)"},
            {"temperature", true, "0 = greedy (default)"},
            {"top-p", true, "nucleus mass (default 1)"},
            {"seed", true, "sampling seed (default 0)"},
            {"causal-injection", false, "forward the question reminder causally (not reference-exact)"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    MNEME_ASSIGN_OR_RETURN(std::string question, args.Required("question"));
    AskOptions opts;
    MNEME_ASSIGN_OR_RETURN(int64_t max_tokens, args.GetInt("max-tokens", 256));
    MNEME_ASSIGN_OR_RETURN(int64_t max_rounds, args.GetInt("max-rounds", 4));
    if (max_tokens < 1 || max_tokens > 1'000'000) return UsageError("--max-tokens must be in [1, 1000000]");
    if (max_rounds < 1 || max_rounds > 1000) return UsageError("--max-rounds must be in [1, 1000]");
    opts.max_new_tokens = static_cast<int>(max_tokens);
    opts.max_rounds = static_cast<int>(max_rounds);
    MNEME_ASSIGN_OR_RETURN(opts.sampling.temperature, args.GetDouble("temperature", 0.0));
    MNEME_ASSIGN_OR_RETURN(opts.sampling.top_p, args.GetDouble("top-p", 1.0));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    opts.sampling.seed = static_cast<uint64_t>(seed);
    opts.causal_injection = args.Has("causal-injection");
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(auto session, LoadSession(ctx, store.get(), name));

    // Text mode streams the answer as it is generated (whole UTF-8 characters only).
    std::vector<int32_t> streamed;
    size_t printed = 0;
    const tokenizer::Tokenizer& tok = session->tokenizer();
    auto on_token = [&](int32_t id) {
      if (ctx.format != Format::kText || ctx.quiet) return;
      streamed.push_back(id);
      absl::StatusOr<std::string> text = tok.Decode(streamed, /*skip_unknown=*/true);
      if (!text.ok() || text->size() < printed || text->substr(text->size() >= 3 ? text->size() - 3 : 0) == "\xEF\xBF\xBD") return;
      *ctx.out << text->substr(printed) << std::flush;
      printed = text->size();
    };
    MNEME_ASSIGN_OR_RETURN(AskResult r, session->Ask(question, opts, on_token));
    if (ctx.format == Format::kJson) {
      nlohmann::json rounds = nlohmann::json::array();
      for (const auto& round : r.rounds) {
        rounds.push_back({{"routing", {{"layers", RoutingJson(round.routing)}}},
                          {"new_ids", round.new_ids},
                          {"injected", round.injected}});
      }
      *ctx.out << DumpJson({{"answer", r.answer},
                            {"text", r.text},
                            {"rounds", rounds},
                            {"ignored_ids", r.ignored_ids},
                            {"timings",
                             {{"load_ms", session->load_ms()},
                              {"prefill_ms", r.prefill_ms},
                              {"decode_ms", r.decode_ms},
                              {"total_ms", r.total_ms},
                              {"new_tokens", r.new_tokens}}}})
               << "\n";
    } else {
      if (ctx.quiet) *ctx.out << r.answer;
      *ctx.out << "\n";
      if (!ctx.quiet) {
        *ctx.err << r.rounds.size() << " round(s), " << r.new_tokens << " tokens, prefill "
                 << r.prefill_ms << " ms, decode " << r.decode_ms << " ms\n";
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewRouteCommand() { return std::make_unique<RouteCommand>(); }
std::unique_ptr<Command> NewAskCommand() { return std::make_unique<AskCommand>(); }

}  // namespace mneme::cli
