// mneme bench forward --model DIR [--prompt-tokens N] [--decode-tokens M] [--repeats R]
//                     [--warmup W] [--batch-tokens B]
// Prefill and decode throughput of the forward pass: median of R timed runs after W warm-up
// runs, on a prompt of N random token ids (seeded, so runs are comparable).
#include <algorithm>
#include <chrono>
#include <ostream>
#include <random>

#include "common/json_util.h"
#include "common/status.h"
#include "engine/model/qwen3_model.h"
#include "engine/model/qwen3_runner.h"
#include "engine/model/sampler.h"
#include "kernels/ops.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

class BenchForwardCommand final : public Command {
 public:
  std::string Name() const override { return "bench forward"; }
  std::string Help() const override {
    return "Measure prefill and decode tokens/s of the forward pass (median after warm-up).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory"},
            {"prompt-tokens", true, "prefill length (default 256)"},
            {"decode-tokens", true, "greedy decode steps after the prefill (default 64)"},
            {"repeats", true, "timed runs (default 5)"},
            {"warmup", true, "untimed runs first (default 1)"},
            {"batch-tokens", true, "prefill chunk size (default 256)"}};
  }

  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    MNEME_ASSIGN_OR_RETURN(int64_t n_prompt, args.GetInt("prompt-tokens", 256));
    MNEME_ASSIGN_OR_RETURN(int64_t n_decode, args.GetInt("decode-tokens", 64));
    MNEME_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 5));
    MNEME_ASSIGN_OR_RETURN(int64_t warmup, args.GetInt("warmup", 1));
    MNEME_ASSIGN_OR_RETURN(int64_t batch, args.GetInt("batch-tokens", 256));
    if (n_prompt < 1 || n_decode < 0 || repeats < 1 || warmup < 0 || batch < 1) {
      return UsageError("prompt-tokens, repeats, batch-tokens must be >= 1; decode-tokens, warmup >= 0");
    }
    MNEME_ASSIGN_OR_RETURN(kernels::BackendKind kind, kernels::ParseBackendKind(ctx.backend));
    MNEME_ASSIGN_OR_RETURN(auto backend, kernels::CreateBackend(kind));
    MNEME_ASSIGN_OR_RETURN(auto model, model::Qwen3Model::Load(model_dir, backend.get()));
    MNEME_ASSIGN_OR_RETURN(auto runner,
                           model::Qwen3Runner::Create(model.get(), n_prompt + n_decode, batch));
    std::mt19937 rng(1234);
    std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
    for (auto& id : prompt) id = static_cast<int32_t>(rng() % model->config().vocab_size);

    std::vector<double> prefill_tps, decode_tps;
    std::vector<float> logits;
    for (int64_t run = 0; run < warmup + repeats; ++run) {
      runner->Reset();
      auto t0 = std::chrono::steady_clock::now();
      MNEME_RETURN_IF_ERROR(runner->Forward(prompt, &logits));
      auto t1 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n_decode; ++i) {
        const int32_t next = model::ArgMax(logits);
        MNEME_RETURN_IF_ERROR(runner->Forward(absl::MakeConstSpan(&next, 1), &logits));
      }
      auto t2 = std::chrono::steady_clock::now();
      if (run < warmup) continue;
      prefill_tps.push_back(n_prompt / std::chrono::duration<double>(t1 - t0).count());
      if (n_decode > 0) decode_tps.push_back(n_decode / std::chrono::duration<double>(t2 - t1).count());
    }
    const double prefill = Median(prefill_tps);
    const double decode = decode_tps.empty() ? 0.0 : Median(decode_tps);
    const double gflop_per_token = 2.0 * static_cast<double>(model->weight_bytes()) / sizeof(float) / 1e9;
    if (ctx.format == Format::kJson) {
      nlohmann::json j = {{"model", model_dir},
                          {"backend", backend->name()},
                          {"weight_bytes", model->weight_bytes()},
                          {"prompt_tokens", n_prompt},
                          {"decode_tokens", n_decode},
                          {"repeats", repeats},
                          {"warmup", warmup},
                          {"prefill_tokens_per_s", prefill},
                          {"decode_tokens_per_s", decode},
                          {"prefill_runs", prefill_tps},
                          {"decode_runs", decode_tps},
                          {"approx_gflop_per_token", gflop_per_token}};
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << "backend " << backend->name() << ", " << n_prompt << "-token prefill: " << prefill
               << " tokens/s; decode: " << decode << " tokens/s (median of " << repeats << ")\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewBenchForwardCommand() { return std::make_unique<BenchForwardCommand>(); }

}  // namespace mneme::cli
