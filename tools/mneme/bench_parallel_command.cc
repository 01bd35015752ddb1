// mneme bench parallel --model DIR [--memory-tokens N] [--encode-docs E] [--questions Q]
//                      [--ask-tokens T] [--repeats R] [--seed S]
// Memory parallel on one memory, exact against IDSA-style mode (docs/parallel.md). Run it as one
// process or under `mpirun -np N`: every rank encodes the same E contract documents, then fills
// its shard to N/ranks memory tokens with copies of their pooled memory, documents dealt round
// robin (global ordinal g on rank g mod ranks). Each copy's routing keys are scaled per chunk by
// a deterministic factor in [0.95, 1.05], so copies rank differently and top-k sets are not
// decided by ties. Copies of one document land on ranks g mod ranks, so with encode-docs a multiple
// of the rank count every copy of a document sits on one rank (the worst case for IDSA-style
// selection); an encode-docs prime to it spreads them. Rank 0 then times route and ask per mode
// (median after one warm-up pass) and compares the modes on the same questions: recall of the
// exact top k by the union of the ranks' local top m (at the first routed layer, where both
// modes see the same queries, and over all routed layers), and the largest difference of the
// prefill's last-token logits.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <set>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/parallel/parallel_session.h"
#include "engine/parallel/shard.h"
#include "engine/parallel/sharded_memory.h"
#include "engine/parallel/worker.h"
#include "kernels/device_link.h"
#include "memory/memory_index.h"
#include "tools/gen/contract_corpus.h"
#include "tools/mneme/bench_util.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct ModeRun {
  std::vector<double> route_ms, ttft_ms, decode_ms_per_token, ask_ms;
  std::vector<std::vector<query::LayerRouting>> routing;  // per question, first timed pass
  std::vector<std::vector<float>> logits;
};

class BenchParallelCommand final : public Command {
 public:
  std::string Name() const override { return "bench parallel"; }
  std::string Help() const override {
    return "Memory parallel: route/ask latency of exact vs IDSA-style mode, recall and output difference.";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory (msa or qwen3)"},
            {"memory-tokens", true, "memory tokens over all ranks (default 1000000)"},
            {"encode-docs", true, "documents encoded per rank (default 100)"},
            {"questions", true, "questions (default 8)"},
            {"ask-tokens", true, "tokens generated per ask (default 16)"},
            {"repeats", true, "timed repetitions (default 3)"},
            {"seed", true, "corpus seed (default 0)"}};
  }

  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    MNEME_ASSIGN_OR_RETURN(int64_t memory_tokens, args.GetInt("memory-tokens", 1000000));
    MNEME_ASSIGN_OR_RETURN(int64_t encode_docs, args.GetInt("encode-docs", 100));
    MNEME_ASSIGN_OR_RETURN(int64_t questions, args.GetInt("questions", 8));
    MNEME_ASSIGN_OR_RETURN(int64_t ask_tokens, args.GetInt("ask-tokens", 16));
    MNEME_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 3));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    if (memory_tokens < 1 || encode_docs < 1 || questions < 1 || ask_tokens < 1 || repeats < 1) {
      return UsageError("memory-tokens, encode-docs, questions, ask-tokens, repeats must be >= 1");
    }
    parallel::SoloTransport solo;
    parallel::Transport* transport = ctx.cluster != nullptr ? ctx.cluster->transport() : &solo;
    const int rank = transport->rank(), ranks = transport->size();
    const auto timeout = std::chrono::milliseconds(ctx.cluster != nullptr ? ctx.cluster->timeout_ms() : 30000);

    SessionOptions opts;
    opts.model_dir = model_dir;
    MNEME_ASSIGN_OR_RETURN(opts.backend, kernels::ParseBackendKind(ctx.backend));
    MNEME_ASSIGN_OR_RETURN(opts.precision, kernels::ParsePrecision(ctx.precision));
    MNEME_ASSIGN_OR_RETURN(auto session, MemorySession::Open(opts));
    MemorySession* mem = session.get();
    std::unique_ptr<parallel::Shard> shard = parallel::Shard::InMemory(std::move(session));

    gen::ContractCorpusOptions co;
    co.num_documents = static_cast<int>(encode_docs);
    co.seed = static_cast<uint64_t>(seed);
    MNEME_ASSIGN_OR_RETURN(std::vector<gen::GeneratedDocument> corpus, gen::GenerateContractCorpus(co));
    std::vector<gen::CorpusQuestion> qs = gen::MakeQuestions(corpus, static_cast<int>(questions), static_cast<uint64_t>(seed));
    if (qs.empty()) return absl::InternalError("the corpus generator produced no question");
    std::vector<memory::PooledDocument> encoded;
    std::vector<std::string_view> texts;
    for (const auto& d : corpus) texts.push_back(d.text);
    for (size_t i = 0; i < texts.size(); i += 64) {
      std::vector<std::string_view> part(texts.begin() + static_cast<long>(i),
                                         texts.begin() + static_cast<long>(std::min(texts.size(), i + 64)));
      MNEME_ASSIGN_OR_RETURN(std::vector<memory::PooledDocument> got, mem->EncodeBatch(static_cast<int64_t>(i), part));
      for (auto& d : got) encoded.push_back(std::move(d));
    }
    // This rank's shard: global ordinals rank, rank + ranks, ... until its share of the tokens.
    const int64_t share = (memory_tokens + ranks - 1) / ranks;
    const int64_t width = mem->local_memory()->index().kv_width();
    int64_t tokens = 0;
    for (int64_t g = rank; tokens < share; g += ranks) {
      const size_t src = static_cast<size_t>(g % encode_docs);
      memory::PooledDocument doc = encoded[src];
      for (auto& kr : doc.kr) {
        for (int64_t c = 0; c < doc.num_chunks; ++c) {
          const float f = 0.95f + 0.1f * static_cast<float>(Mix(static_cast<uint64_t>(g) * 1000003u + static_cast<uint64_t>(c)) >> 40) /
                                      static_cast<float>(1u << 24);
          for (int64_t i = 0; i < width; ++i) kr[static_cast<size_t>(c * width + i)] *= f;
        }
      }
      tokens += doc.num_tokens;
      MNEME_RETURN_IF_ERROR(shard->AppendPooled(g, std::move(doc), corpus[src].text));
    }
    encoded.clear();
    MNEME_RETURN_IF_ERROR(transport->Barrier(parallel::Never()));  // every shard is built
    std::unique_ptr<kernels::DeviceLink> link;  // NCCL when the ranks chose it (a collective)
    if (ctx.cluster != nullptr) {
      MNEME_ASSIGN_OR_RETURN(link, ctx.cluster->TakeLink(mem->backend()));
    }
    if (rank != 0) {
      *ctx.err << absl::StrFormat("mneme rank %d: shard of %d tokens ready\n", rank, tokens);
      return parallel::ServeShard(transport, shard.get(), timeout, nullptr, link.get());
    }
    absl::Status st = Coordinate(ctx, transport, shard.get(), link.get(), qs, ask_tokens, repeats, model_dir);
    parallel::ShutdownWorkers(transport, st.ok() ? "bench done" : "bench failed");
    return st;
  }

 private:
  absl::Status Coordinate(Context& ctx, parallel::Transport* transport, parallel::Shard* shard,
                          kernels::DeviceLink* link, const std::vector<gen::CorpusQuestion>& qs, int64_t ask_tokens, int64_t repeats,
                          const std::string& model_dir) {
    MemorySession& mem = shard->memory();
    parallel::ShardedOptions so;
    so.top_m = ctx.cluster != nullptr ? ctx.cluster->top_m() : 0;
    so.link = link;
    if (ctx.cluster != nullptr) so.timeout = std::chrono::milliseconds(ctx.cluster->timeout_ms());
    parallel::ShardedMemory sharded(transport, shard, so);
    MNEME_RETURN_IF_ERROR(sharded.Refresh());
    mem.UseMemory(&sharded);
    AskOptions ao;
    ao.max_new_tokens = static_cast<int>(ask_tokens);
    ao.max_rounds = 1;
    ModeRun runs[2];
    for (int m = 0; m < 2; ++m) {
      sharded.set_mode(m == 0 ? parallel::Mode::kExact : parallel::Mode::kIdsa);
      ModeRun& run = runs[m];
      for (int64_t rep = 0; rep <= repeats; ++rep) {
        for (const auto& q : qs) {
          absl::StatusOr<RouteResult> r = mem.Route(q.question);
          if (!r.ok()) {
            mem.UseMemory(nullptr);
            return r.status();
          }
          absl::StatusOr<AskResult> a = mem.Ask(q.question, ao);
          if (!a.ok()) {
            mem.UseMemory(nullptr);
            return a.status();
          }
          if (rep == 0) continue;  // warm-up
          if (rep == 1) {
            run.routing.push_back(r->layers);
            run.logits.push_back(r->logits);
          }
          run.route_ms.push_back(r->ms);
          run.ttft_ms.push_back(a->prefill_ms);
          run.ask_ms.push_back(a->total_ms);
          if (a->new_tokens > 1) run.decode_ms_per_token.push_back(a->decode_ms / static_cast<double>(a->new_tokens));
        }
      }
    }
    mem.UseMemory(nullptr);
    // Recall of the exact top k by the IDSA union, over every (question, routed layer).
    // The first routed layer sees the same queries in both modes (no attention has differed
    // yet): its recall is the selection's alone; later layers also carry the output difference.
    double recall_sum = 0.0, recall_min = 1.0, max_logit_diff = 0.0, first_sum = 0.0, first_min = 1.0;
    int64_t recall_n = 0, first_n = 0;
    for (size_t q = 0; q < runs[0].routing.size(); ++q) {
      for (size_t l = 0; l < runs[0].routing[q].size(); ++l) {
        std::set<int64_t> got;
        for (const auto& d : runs[1].routing[q][l].docs) got.insert(d.ordinal);
        const auto& exact = runs[0].routing[q][l].docs;
        if (exact.empty()) continue;
        int64_t hit = 0;
        for (const auto& d : exact) hit += got.count(d.ordinal);
        const double rcl = static_cast<double>(hit) / static_cast<double>(exact.size());
        recall_sum += rcl;
        recall_min = std::min(recall_min, rcl);
        ++recall_n;
        if (l == 0) {
          first_sum += rcl;
          first_min = std::min(first_min, rcl);
          ++first_n;
        }
      }
      for (size_t i = 0; i < runs[0].logits[q].size() && i < runs[1].logits[q].size(); ++i) {
        max_logit_diff = std::max<double>(max_logit_diff, std::fabs(runs[0].logits[q][i] - runs[1].logits[q][i]));
      }
    }
    const query::LocalMemory& local = *mem.local_memory();
    nlohmann::json j = {{"model", model_dir},
                        {"backend", mem.backend_name()},
                        {"ranks", transport->size()},
                        {"transport", link != nullptr ? transport->name() + "+" + link->name() : transport->name()},
                        {"memory_documents", sharded.live_documents()},
                        {"rank0_chunks", local.index().total_chunks()},
                        {"rank0_tokens", local.index().total_tokens()},
                        {"chunks_per_rank", sharded.live_chunks_per_rank()},
                        {"top_k", mem.settings().top_k},
                        {"top_m", sharded.top_m(mem.settings().top_k)},
                        {"questions", qs.size()},
                        {"repeats", repeats},
                        {"ask_tokens", ask_tokens},
                        {"idsa_recall_mean", recall_n > 0 ? recall_sum / static_cast<double>(recall_n) : 0.0},
                        {"idsa_recall_min", recall_min},
                        {"idsa_first_layer_recall_mean", first_n > 0 ? first_sum / static_cast<double>(first_n) : 0.0},
                        {"idsa_first_layer_recall_min", first_min},
                        {"idsa_max_logit_diff", max_logit_diff}};
    const char* names[2] = {"exact", "idsa"};
    for (int m = 0; m < 2; ++m) {
      j[names[m]] = {{"route_ms_median", Median(runs[m].route_ms)},
                     {"ask_prefill_ms_median", Median(runs[m].ttft_ms)},
                     {"decode_ms_per_token_median", Median(runs[m].decode_ms_per_token)},
                     {"ask_ms_median", Median(runs[m].ask_ms)}};
    }
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << DumpJson(j, 2) << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewBenchParallelCommand() { return std::make_unique<BenchParallelCommand>(); }

}  // namespace mneme::cli
