// MemorySession::Ask: MSA query execution with memory interleaving (docs/msa.md §3-4), at the
// token level: rounds of (re-)prefill with routing, then decoding with the selection fixed.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/internal/session_impl.h"
#include "engine/query/interleave.h"

namespace mneme {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

absl::StatusOr<AskResult> MemorySession::Ask(std::string_view question, const AskOptions& opts,
                                             const std::function<void(int32_t)>& on_token) {
  Impl& s = *impl_;
  if (opts.max_rounds < 1) return absl::InvalidArgumentError("max_rounds must be >= 1");
  if (opts.max_new_tokens < 1) return absl::InvalidArgumentError("max_new_tokens must be >= 1");
  query::RoutedMemory* memory = s.runner->memory();
  if (memory->live_documents() == 0) {
    return absl::FailedPreconditionError("the memory holds no live document to answer from");
  }
  MNEME_ASSIGN_OR_RETURN(model::Sampler sampler, model::Sampler::Create(opts.sampling));
  const auto t_start = std::chrono::steady_clock::now();
  MNEME_ASSIGN_OR_RETURN(query::QueryTokens q, query::TokenizeQuery(*s.tok, question));
  query::MemoryView view{[memory](int64_t o) { return memory->IsLive(o); },
                         [memory](int64_t o) { return memory->Text(o); }};
  query::Interleaver il(s.tok.get(), s.special, view, std::string(question), q,
                        {opts.max_rounds, opts.causal_injection});

  AskResult result;
  // Logits stay in backend memory: the backend samples and only the token comes back.
  kernels::Backend* be = s.model->backend();
  const int64_t vocab = s.model->config().vocab_size;
  int budget = opts.max_new_tokens;
  bool stop = false;
  std::vector<std::vector<query::LayerRouting>> routing;
  while (!stop && budget > 0) {
    // A round: prefill the whole context with fresh routing, then decode with it fixed.
    auto t0 = std::chrono::steady_clock::now();
    MNEME_RETURN_IF_ERROR(s.runner->Prefill(il.context(), s.FirstPosition(), il.routing_rows(), budget, nullptr));
    result.prefill_ms += MsSince(t0);
    routing.push_back(s.runner->routing());
    t0 = std::chrono::steady_clock::now();
    while (budget > 0) {
      auto t_sample = std::chrono::steady_clock::now();
      MNEME_ASSIGN_OR_RETURN(int32_t next, sampler.Sample(be, s.runner->logits(), vocab));
      result.decode_sample_ms += MsSince(t_sample);
      --budget;
      ++result.new_tokens;
      if (on_token) on_token(next);
      MNEME_ASSIGN_OR_RETURN(query::Interleaver::Step step, il.OnToken(next));
      if (step.kind == query::Interleaver::Step::Kind::kStop) {
        stop = true;
        break;
      }
      if (step.kind == query::Interleaver::Step::Kind::kReprefill) break;
      if (budget > 0) {
        auto t_issue = std::chrono::steady_clock::now();
        MNEME_RETURN_IF_ERROR(s.runner->Extend(step.block, step.causal, nullptr));
        result.decode_issue_ms += MsSince(t_issue);
      }
    }
    result.decode_ms += MsSince(t0);
  }

  for (size_t r = 0; r < il.rounds().size() && r < routing.size(); ++r) {
    result.rounds.push_back({routing[r], il.rounds()[r].new_ids, il.rounds()[r].injected});
  }
  result.ignored_ids = il.ignored_ids();
  auto decode = [&](const std::vector<int32_t>& ids) -> absl::StatusOr<std::string> {
    std::vector<int32_t> kept;  // without the closing <|im_end|>
    for (int32_t id : ids) {
      if (id != s.special.im_end) kept.push_back(id);
    }
    return s.tok->Decode(kept, /*skip_unknown=*/true);
  };
  MNEME_ASSIGN_OR_RETURN(result.text, decode(il.all_new()));
  const size_t at = result.text.rfind(query::kAnswerPhrase);
  if (at != std::string::npos) {
    result.answer = result.text.substr(at + std::string_view(query::kAnswerPhrase).size());
    while (!result.answer.empty() && result.answer.front() == ' ') result.answer.erase(0, 1);
  } else {
    MNEME_ASSIGN_OR_RETURN(result.answer, decode(result.rounds.back().new_ids));
  }
  result.total_ms = MsSince(t_start);
  return result;
}

}  // namespace mneme
