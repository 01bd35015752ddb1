// mneme gen contracts --count N [--seed S] [--out FILE] [--questions FILE] [--num-questions Q]
//                     [--min-words W] [--max-words W]
//
// Writes a seeded synthetic contract corpus (tools/gen/contract_corpus.h) as JSONL, one
// {"text", "source", "tags"} object a line, to FILE or standard output. --questions also writes
// demo questions as JSONL {"question", "answer_docs", "answer"}, where answer_docs are 0-based
// line numbers of the corpus.
#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"
#include "tools/gen/contract_corpus.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

// Integer flag `name` (default `def`), which must lie in [lo, hi]: a usage error otherwise.
absl::StatusOr<int> IntFlag(const Args& args, const std::string& name, int64_t def, int64_t lo,
                            int64_t hi) {
  MNEME_ASSIGN_OR_RETURN(int64_t v, args.GetInt(name, def));
  if (v < lo || v > hi) {
    return UsageError(absl::StrFormat("flag --%s must be in [%d, %d], got %d", name, lo, hi, v));
  }
  return static_cast<int>(v);
}

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

class GenContractsCommand final : public Command {
 public:
  std::string Name() const override { return "gen contracts"; }
  std::string Help() const override {
    return "Write a seeded synthetic contract corpus as JSONL (for demos, tests and benchmarks).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"count", true, "number of documents, 1 to 10000000"},
            {"seed", true, "random seed (default 0); a seed always gives the same corpus"},
            {"out", true, "JSONL file to write (default: standard output)"},
            {"questions", true, "also write demo questions and answers to this JSONL file"},
            {"num-questions", true, "at most this many questions (default 20)"},
            {"min-words", true, "shortest document in words (default 40, at least 5)"},
            {"max-words", true, "longest document in words (default max(400, --min-words))"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    if (!args.positionals().empty()) {
      return UsageError("unexpected argument '" + args.positionals()[0] + "'");
    }
    MNEME_RETURN_IF_ERROR(args.Required("count").status());
    gen::ContractCorpusOptions options;
    MNEME_ASSIGN_OR_RETURN(options.num_documents, IntFlag(args, "count", 0, 1, 10'000'000));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    options.seed = static_cast<uint64_t>(seed);
    MNEME_ASSIGN_OR_RETURN(options.min_words, IntFlag(args, "min-words", 40, 5, 1'000'000));
    MNEME_ASSIGN_OR_RETURN(
        options.max_words,
        IntFlag(args, "max-words", std::max(400, options.min_words), options.min_words, 1'000'000));
    MNEME_ASSIGN_OR_RETURN(int num_questions, IntFlag(args, "num-questions", 20, 0, 1'000'000));
    const std::optional<std::string> out = args.Get("out"), questions_out = args.Get("questions");

    absl::StatusOr<std::vector<gen::GeneratedDocument>> docs = gen::GenerateContractCorpus(options);
    if (!docs.ok() && absl::IsInvalidArgument(docs.status())) {
      return UsageError(std::string(docs.status().message()));
    }
    if (!docs.ok()) return docs.status();
    const std::string jsonl = gen::ToJsonl(*docs);
    if (out) {
      MNEME_RETURN_IF_ERROR(WriteFileAtomic(*out, jsonl));
    } else {
      *ctx.out << jsonl;
    }
    std::vector<gen::CorpusQuestion> questions;
    if (questions_out) {
      questions = gen::MakeQuestions(*docs, num_questions, options.seed);
      std::string lines;
      for (const gen::CorpusQuestion& q : questions) {
        const nlohmann::ordered_json j = {
            {"question", q.question}, {"answer_docs", q.answer_docs}, {"answer", q.answer}};
        lines += Dump(j) + "\n";
      }
      MNEME_RETURN_IF_ERROR(WriteFileAtomic(*questions_out, lines));
    }

    // Without --out the corpus itself is the result on standard output: report nothing there.
    if (out && ctx.format == Format::kJson) {
      nlohmann::ordered_json j = {
          {"documents", docs->size()}, {"out", *out}, {"bytes", jsonl.size()}};
      if (questions_out) {
        j["questions"] = questions.size();
        j["questions_out"] = *questions_out;
      }
      *ctx.out << Dump(j) << "\n";
    } else if (!ctx.quiet) {
      std::ostream& os = out ? *ctx.out : *ctx.err;
      if (out) {
        os << "wrote " << docs->size() << " documents (" << jsonl.size() << " bytes) to " << *out
           << "\n";
      }
      if (questions_out) {
        os << "wrote " << questions.size() << " questions to " << *questions_out << "\n";
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewGenContractsCommand() {
  return std::make_unique<GenContractsCommand>();
}

}  // namespace mneme::cli
