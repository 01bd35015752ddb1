// mneme tokenize --model DIR (--text STR | --file F)
#include <ostream>

#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

class TokenizeCommand final : public Command {
 public:
  std::string Name() const override { return "tokenize"; }
  std::string Help() const override {
    return "Encode text with a model's tokenizer.json and decode it back.";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory (holds tokenizer.json)"},
            {"text", true, "text to encode"},
            {"file", true, "file whose contents to encode (UTF-8)"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    if (args.Has("text") == args.Has("file")) return UsageError("give exactly one of --text or --file");
    std::string text;
    if (args.Has("text")) {
      text = *args.Get("text");
    } else {
      MNEME_ASSIGN_OR_RETURN(text, ReadFileToString(*args.Get("file")));
    }
    MNEME_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::FromFile(model_dir + "/tokenizer.json"));
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(text));
    MNEME_ASSIGN_OR_RETURN(std::string decoded, tok->Decode(ids));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(nlohmann::json{{"ids", ids}, {"text", decoded}}) << "\n";
    } else {
      for (size_t i = 0; i < ids.size(); ++i) *ctx.out << (i ? " " : "") << ids[i];
      *ctx.out << "\n";
      if (!ctx.quiet) *ctx.out << decoded << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewTokenizeCommand() { return std::make_unique<TokenizeCommand>(); }

}  // namespace mneme::cli
