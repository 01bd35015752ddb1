// mneme generate --model DIR (--prompt STR | --prompt-ids 1,2,3) [--max-tokens N]
//                [--temperature T] [--top-p P] [--seed S] [--stop-at-eos]
#include <filesystem>
#include <ostream>

#include "common/json_util.h"
#include "common/status.h"
#include "engine/model/generator.h"
#include "engine/model/qwen3_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/ops.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

class GenerateCommand final : public Command {
 public:
  std::string Name() const override { return "generate"; }
  std::string Help() const override {
    return "Generate a continuation of a prompt with a Qwen3 checkpoint (no memory).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory (config.json, *.safetensors, tokenizer.json)"},
            {"prompt", true, "prompt text"},
            {"prompt-ids", true, "prompt as comma-separated token ids"},
            {"max-tokens", true, "tokens to generate (default 32)"},
            {"temperature", true, "0 = greedy (default); > 0 samples"},
            {"top-p", true, "nucleus sampling mass in (0, 1] (default 1)"},
            {"seed", true, "sampling seed (default 0)"},
            {"stop-at-eos", false, "stop after an end-of-sequence token"}};
  }

  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    if (args.Has("prompt") == args.Has("prompt-ids")) {
      return UsageError("give exactly one of --prompt or --prompt-ids");
    }
    model::GenerateOptions opts;
    MNEME_ASSIGN_OR_RETURN(int64_t max_tokens, args.GetInt("max-tokens", 32));
    if (max_tokens < 0 || max_tokens > 1'000'000) return UsageError("--max-tokens must be in [0, 1000000]");
    opts.max_new_tokens = static_cast<int>(max_tokens);
    MNEME_ASSIGN_OR_RETURN(opts.sampling.temperature, args.GetDouble("temperature", 0.0));
    MNEME_ASSIGN_OR_RETURN(opts.sampling.top_p, args.GetDouble("top-p", 1.0));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    opts.sampling.seed = static_cast<uint64_t>(seed);
    if (opts.sampling.temperature < 0) return UsageError("--temperature must be >= 0");
    if (!(opts.sampling.top_p > 0 && opts.sampling.top_p <= 1)) return UsageError("--top-p must be in (0, 1]");
    opts.stop_at_eos = args.Has("stop-at-eos");

    // The tokenizer is needed for --prompt; with --prompt-ids it only decodes, if present.
    std::unique_ptr<tokenizer::Tokenizer> tok;
    const std::string tok_path = model_dir + "/tokenizer.json";
    if (args.Has("prompt") || std::filesystem::exists(tok_path)) {
      MNEME_ASSIGN_OR_RETURN(tok, tokenizer::Tokenizer::FromFile(tok_path));
    }
    std::vector<int32_t> prompt;
    if (args.Has("prompt")) {
      MNEME_ASSIGN_OR_RETURN(prompt, tok->Encode(*args.Get("prompt")));
    } else {
      MNEME_ASSIGN_OR_RETURN(prompt, ParseIdList(*args.Get("prompt-ids")));
    }
    if (prompt.empty()) return UsageError("the prompt encodes to no tokens");

    MNEME_ASSIGN_OR_RETURN(kernels::BackendKind kind, kernels::ParseBackendKind(ctx.backend));
    MNEME_ASSIGN_OR_RETURN(auto backend, kernels::CreateBackend(kind));
    MNEME_ASSIGN_OR_RETURN(kernels::Precision precision, kernels::ParsePrecision(ctx.precision));
    model::LoadOptions load;
    load.bf16_weights = kernels::UsesBf16Weights(precision, *backend);
    MNEME_ASSIGN_OR_RETURN(auto model, model::Qwen3Model::Load(model_dir, backend.get(), load));
    opts.eos_ids = model->config().eos_token_ids;
    if (tok) {
      for (const char* t : {"<|im_end|>", "<|endoftext|>"}) {
        if (auto id = tok->TokenToId(t)) opts.eos_ids.push_back(*id);
      }
    }
    const int64_t context = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(max_tokens, 1);
    MNEME_ASSIGN_OR_RETURN(auto runner, model::Qwen3Runner::Create(model.get(), context));
    MNEME_ASSIGN_OR_RETURN(model::GenerateResult r, model::Generate(runner.get(), prompt, opts));

    std::string text;
    if (tok) {
      // Checkpoints pad the embedding table past the tokenizer's vocabulary (Qwen3: 151936 rows,
      // 151669 tokens); like HF's decode, ids without a token contribute no text.
      MNEME_ASSIGN_OR_RETURN(text, tok->Decode(r.new_ids, /*skip_unknown=*/true));
    }
    if (ctx.format == Format::kJson) {
      nlohmann::json j = {{"prompt_ids", prompt},
                          {"new_ids", r.new_ids},
                          {"text", text},
                          {"stopped_at_eos", r.stopped_at_eos},
                          {"timings", {{"prefill_ms", r.prefill_ms}, {"decode_ms", r.decode_ms}}}};
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << text << "\n";
      if (!ctx.quiet) {
        *ctx.err << r.new_ids.size() << " tokens; prefill " << r.prefill_ms << " ms, decode "
                 << r.decode_ms << " ms (backend " << backend->name() << ")\n";
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewGenerateCommand() { return std::make_unique<GenerateCommand>(); }

}  // namespace mneme::cli
