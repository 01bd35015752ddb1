// mneme bench memory --model DIR --docs N [--encode-docs M] [--questions Q] [--ask-tokens T]
//                    [--repeats R] [--seed S]
// MSA memory at scale on one machine: document-encoding throughput on M real contract
// documents, then route and ask latency with N documents in memory. Beyond the M encoded
// documents the memory is filled with copies of their pooled memory (same chunk-size mix), so
// routing and ask cost are those of N documents without encoding all of them.
#include <algorithm>
#include <chrono>
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/engine.h"
#include "memory/memory_index.h"
#include "tools/gen/contract_corpus.h"
#include "tools/mneme/bench_util.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class BenchMemoryCommand final : public Command {
 public:
  std::string Name() const override { return "bench memory"; }
  std::string Help() const override {
    return "Encode throughput, then route and ask latency versus memory size (median after warm-up).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"model", true, "model directory (msa or qwen3)"},
            {"docs", true, "documents in memory for routing/asking (default 1000)"},
            {"encode-docs", true, "documents actually encoded (default min(docs, 1000))"},
            {"questions", true, "questions timed (default 8)"},
            {"ask-tokens", true, "tokens generated per ask (default 16)"},
            {"repeats", true, "timed repetitions of each question (default 3)"},
            {"seed", true, "corpus seed (default 0)"}};
  }

  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string model_dir, args.Required("model"));
    MNEME_ASSIGN_OR_RETURN(int64_t docs, args.GetInt("docs", 1000));
    MNEME_ASSIGN_OR_RETURN(int64_t encode_docs, args.GetInt("encode-docs", std::min<int64_t>(docs, 1000)));
    MNEME_ASSIGN_OR_RETURN(int64_t questions, args.GetInt("questions", 8));
    MNEME_ASSIGN_OR_RETURN(int64_t ask_tokens, args.GetInt("ask-tokens", 16));
    MNEME_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 3));
    MNEME_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
    if (docs < 1 || encode_docs < 1 || encode_docs > docs || questions < 1 || ask_tokens < 1 || repeats < 1) {
      return UsageError("need 1 <= encode-docs <= docs, questions, ask-tokens, repeats >= 1");
    }
    SessionOptions opts;
    opts.model_dir = model_dir;
    MNEME_ASSIGN_OR_RETURN(opts.backend, kernels::ParseBackendKind(ctx.backend));
    MNEME_ASSIGN_OR_RETURN(opts.precision, kernels::ParsePrecision(ctx.precision));
    MNEME_ASSIGN_OR_RETURN(auto session, MemorySession::Open(opts));

    gen::ContractCorpusOptions co;
    co.num_documents = static_cast<int>(encode_docs);
    co.seed = static_cast<uint64_t>(seed);
    MNEME_ASSIGN_OR_RETURN(std::vector<gen::GeneratedDocument> corpus, gen::GenerateContractCorpus(co));
    std::vector<gen::CorpusQuestion> qs = gen::MakeQuestions(corpus, static_cast<int>(questions), static_cast<uint64_t>(seed));
    if (qs.empty()) return absl::InternalError("the corpus generator produced no question");

    // 1. Encode the real documents.
    Progress progress(ctx, "encoding", encode_docs);
    std::vector<memory::PooledDocument> encoded;
    int64_t tokens = 0;
    auto t0 = std::chrono::steady_clock::now();
    // Groups of documents per EncodeBatch call, packed several per forward by the encoder.
    constexpr int64_t kGroup = 64;
    for (int64_t i = 0; i < encode_docs; i += kGroup) {
      std::vector<std::string_view> texts;
      for (int64_t j = i; j < std::min(encode_docs, i + kGroup); ++j) texts.push_back(corpus[static_cast<size_t>(j)].text);
      MNEME_ASSIGN_OR_RETURN(std::vector<memory::PooledDocument> group, session->EncodeBatch(i, texts));
      for (size_t j = 0; j < group.size(); ++j) {
        tokens += group[j].num_tokens;
        encoded.push_back(group[j]);
        MNEME_RETURN_IF_ERROR(session->AppendPooled(std::move(group[j]), std::string(texts[j])).status());
      }
      progress.Update(i + static_cast<int64_t>(group.size()), tokens);
    }
    progress.Finish();
    const double encode_s = Seconds(t0);
    // 2. Fill to `docs` with copies of the encoded memory.
    for (int64_t i = encode_docs; i < docs; ++i) {
      const size_t src = static_cast<size_t>(i % encode_docs);
      MNEME_RETURN_IF_ERROR(session->AppendPooled(encoded[src], corpus[src].text).status());
    }
    encoded.clear();
    // 3. Route and ask, one warm-up pass first.
    // The warm-up pass is also the cold measurement: its questions find the content cache empty
    // of their documents; the timed repeats route the same documents again (hot).
    std::vector<double> route_ms, ask_ms, ttft_ms, decode_ms_per_token, cold_ttft_ms;
    std::vector<double> decode_issue_ms_per_token, decode_sample_ms_per_token;  // host issue vs waiting
    AskOptions ao;
    ao.max_new_tokens = static_cast<int>(ask_tokens);
    ao.max_rounds = 1;
    for (int64_t rep = 0; rep <= repeats; ++rep) {
      for (const auto& q : qs) {
        MNEME_ASSIGN_OR_RETURN(RouteResult r, session->Route(q.question));
        MNEME_ASSIGN_OR_RETURN(AskResult a, session->Ask(q.question, ao));
        if (rep == 0) {
          cold_ttft_ms.push_back(a.prefill_ms);
          continue;
        }
        route_ms.push_back(r.ms);
        ask_ms.push_back(a.total_ms);
        ttft_ms.push_back(a.prefill_ms);
        if (a.new_tokens > 1) {
          decode_ms_per_token.push_back(a.decode_ms / static_cast<double>(a.new_tokens));
          decode_issue_ms_per_token.push_back(a.decode_issue_ms / static_cast<double>(a.new_tokens));
          decode_sample_ms_per_token.push_back(a.decode_sample_ms / static_cast<double>(a.new_tokens));
        }
      }
    }
    const memory::MemoryIndex& index = session->index();
    nlohmann::json j = {
        {"model", model_dir},
        {"backend", session->backend_name()},
        {"precision", ctx.precision},
        {"msa", session->settings().Describe()},
        {"documents", index.num_documents()},
        {"chunks", index.total_chunks()},
        {"memory_tokens", index.total_tokens()},
        {"encoded_documents", encode_docs},
        {"encoded_tokens", tokens},
        {"encode_tokens_per_s", tokens / encode_s},
        {"route_ms_median", Median(route_ms)},
        {"ask_ms_median", Median(ask_ms)},
        {"ask_prefill_ms_median", Median(ttft_ms)},
        {"ask_prefill_ms_cold_median", Median(cold_ttft_ms)},
        {"decode_ms_per_token_median", Median(decode_ms_per_token)},
        {"decode_issue_ms_per_token_median", Median(decode_issue_ms_per_token)},
        {"decode_sample_ms_per_token_median", Median(decode_sample_ms_per_token)},
        {"ask_tokens", ask_tokens},
        {"questions", qs.size()},
        {"repeats", repeats}};
    if (const query::ContentCache* cache = session->content_cache()) {
      const query::ContentCache::Stats& st = cache->stats();
      j["content_cache"] = {{"budget_bytes", cache->budget_bytes()}, {"cached_bytes", cache->cached_bytes()},
                            {"hits", st.hits}, {"misses", st.misses}, {"bypassed", st.bypassed},
                            {"uploaded_bytes", st.uploaded_bytes}};
    }
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << absl::StrFormat(
          "%d documents (%d chunks, %d tokens): encode %.0f tokens/s; route %.2f ms; ask %.1f ms "
          "(prefill %.2f ms, %.3f ms/token)\n",
          index.num_documents(), index.total_chunks(), index.total_tokens(), tokens / encode_s,
          Median(route_ms), Median(ask_ms), Median(ttft_ms), Median(decode_ms_per_token));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewBenchMemoryCommand() { return std::make_unique<BenchMemoryCommand>(); }

}  // namespace mneme::cli
