// mneme bench forward --model DIR [--prompt-tokens N] [--decode-tokens M] [--repeats R]
//                     [--warmup W] [--batch-tokens B]
// Prefill and decode throughput of the forward pass: median of R timed runs after W warm-up
// runs, on a prompt of N random token ids (seeded, so runs are comparable).
#include <algorithm>
#include <atomic>
#include <thread>
#include <chrono>
#include <ostream>
#include <random>
#include <vector>

#include "common/half.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/model/model_config.h"
#include "engine/model/qwen3_model.h"
#include "engine/model/qwen3_runner.h"
#include "engine/model/sampler.h"
#include "kernels/ops.h"
#include "tools/mneme/bench_util.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

// Best-of-3 streaming read bandwidth (bytes/s) over a 512 MiB buffer, one reader thread per
// hardware thread (as the BLAS uses them): decode's roofline.
double MeasureReadBandwidth() {
  const size_t words = (size_t{512} << 20) / sizeof(uint64_t);
  std::vector<uint64_t> buf(words, 1);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  double best = 0.0;
  std::atomic<uint64_t> sink{0};
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t lo = words * t / threads, hi = words * (t + 1) / threads;
        uint64_t acc[4] = {0, 0, 0, 0};
        for (size_t i = lo; i + 4 <= hi; i += 4) {
          acc[0] += buf[i];
          acc[1] += buf[i + 1];
          acc[2] += buf[i + 2];
          acc[3] += buf[i + 3];
        }
        sink += acc[0] + acc[1] + acc[2] + acc[3];
      });
    }
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / s);
  }
  return best;
}

// Best-of-3 GEMM rate (FLOP/s) of the backend at [m x k] . [n x k]^T with weights of `w_type`
// (the model's): prefill's roofline. Inputs are filled on the host and copied, so this works on
// any backend.
absl::StatusOr<double> MeasureGemmRate(kernels::Backend* be, int64_t m, int64_t n, int64_t k, kernels::DType w_type) {
  const size_t w_bytes = static_cast<size_t>(n * k) * (w_type == kernels::DType::kBf16 ? 2 : 4);
  MNEME_ASSIGN_OR_RETURN(auto x, be->Allocate(static_cast<size_t>(m * k) * sizeof(float)));
  MNEME_ASSIGN_OR_RETURN(auto w, be->Allocate(w_bytes));
  MNEME_ASSIGN_OR_RETURN(auto y, be->Allocate(static_cast<size_t>(m * n) * sizeof(float)));
  std::vector<float> hx(static_cast<size_t>(m * k), 0.5f), hw(static_cast<size_t>(n * k), 0.25f);
  std::vector<uint16_t> hw16(w_type == kernels::DType::kBf16 ? hw.size() : 0, FloatToBf16(0.25f));
  MNEME_RETURN_IF_ERROR(be->CopyToDevice(x->data(), hx.data(), hx.size() * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be->CopyToDevice(w->data(), hw16.empty() ? static_cast<const void*>(hw.data()) : hw16.data(), w_bytes));
  double best = 0.0;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    MNEME_RETURN_IF_ERROR(be->MatMul({x->f32(), w->data(), y->f32(), m, n, k, 0, false, w_type}));
    MNEME_RETURN_IF_ERROR(be->Synchronize());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::max(best, 2.0 * m * n * k / s);
  }
  return best;
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
    MNEME_ASSIGN_OR_RETURN(kernels::Precision precision, kernels::ParsePrecision(ctx.precision));
    model::LoadOptions load;
    load.bf16_weights = kernels::UsesBf16Weights(precision, *backend);
    MNEME_ASSIGN_OR_RETURN(auto model, model::Qwen3Model::Load(model_dir, backend.get(), load));
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
    const double decode = Median(decode_tps);
    // Rooflines measured now, on this machine: decode reads every weight once per token;
    // prefill does ~2 FLOP per weight per token in GEMMs (attention excluded).
    const double flop_per_token = 2.0 * static_cast<double>(model->weight_bytes()) / sizeof(float);
    const double read_bw = MeasureReadBandwidth();
    const model::ModelConfig& c = model->config();
    MNEME_ASSIGN_OR_RETURN(double gemm_rate,
                           MeasureGemmRate(backend.get(), std::min<int64_t>(n_prompt, batch),
                                           2 * int64_t{c.intermediate_size}, c.hidden_size, model->matmul_type()));
    const double decode_roof = read_bw / static_cast<double>(model->weight_bytes());
    const double prefill_roof = gemm_rate / flop_per_token;
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
                          {"gflop_per_token", flop_per_token / 1e9},
                          {"roofline",
                           {{"read_bandwidth_gb_per_s", read_bw / 1e9},
                            {"gemm_gflop_per_s", gemm_rate / 1e9},
                            {"decode_tokens_per_s", decode_roof},
                            {"prefill_tokens_per_s", prefill_roof},
                            {"decode_fraction", decode / decode_roof},
                            {"prefill_fraction", prefill / prefill_roof}}}};
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << "backend " << backend->name() << ", " << n_prompt << "-token prefill: " << prefill
               << " tokens/s (" << 100.0 * prefill / prefill_roof << "% of the GEMM roofline); decode: "
               << decode << " tokens/s (" << 100.0 * decode / decode_roof
               << "% of the weight-read roofline), median of " << repeats << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewBenchForwardCommand() { return std::make_unique<BenchForwardCommand>(); }

}  // namespace mneme::cli
