// mneme model init --preset tiny|small --out DIR [--seed N]
#include <ostream>

#include "common/json_util.h"
#include "common/status.h"
#include "engine/model/preset.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

class ModelInitCommand final : public Command {
 public:
  std::string Name() const override { return "model init"; }
  std::string Help() const override {
    return "Write a random Qwen3 checkpoint in the Hugging Face layout (for tests and demos).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"preset", true,
             "tiny (2 layers, hidden 64), small (8 layers, hidden 512), 4b (Qwen3-4B's shape, "
             "7.7 GB), or their MSA twins tiny-msa, small-msa, 4b-msa"},
            {"out", true, "directory to write (created; must not hold a model yet)"},
            {"seed", true, "random seed for the weights (default 0)"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string preset, args.Required("preset"));
    MNEME_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    absl::StatusOr<model::PresetSpec> spec = model::FindPreset(preset);
    if (!spec.ok()) return UsageError(std::string(spec.status().message()));
    MNEME_ASSIGN_OR_RETURN(model::WrittenCheckpoint ck,
                           model::WritePresetCheckpoint(*spec, static_cast<uint64_t>(seed), out));
    if (ctx.format == Format::kJson) {
      nlohmann::json j = {{"dir", ck.dir},           {"preset", preset},
                          {"seed", seed},            {"vocab_size", ck.vocab_size},
                          {"parameters", ck.parameters}, {"files", ck.files}};
      *ctx.out << DumpJson(j) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "wrote " << preset << " model (" << ck.parameters << " parameters, vocab "
               << ck.vocab_size << ") to " << ck.dir << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewModelInitCommand() { return std::make_unique<ModelInitCommand>(); }

}  // namespace mneme::cli
