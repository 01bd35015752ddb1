// MemorySession::Ask: MSA query execution with memory interleaving (docs/msa.md §3-4), at the
// token level: rounds of (re-)prefill with routing, then decoding with the selection fixed.
#include <algorithm>
#include <chrono>
#include <set>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/internal/session_impl.h"

namespace mneme {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Everything a round-to-round re-prefill needs.
struct Context {
  std::vector<int32_t> ids;           // query tokens ++ generated ++ injected
  std::vector<int64_t> prompt_rows;   // rows of tok(prompt)
  std::vector<int64_t> routing_rows;  // prompt rows ++ the latest injected document texts
};

}  // namespace

absl::StatusOr<AskResult> MemorySession::Ask(std::string_view question, const AskOptions& opts,
                                             const std::function<void(int32_t)>& on_token) {
  Impl& s = *impl_;
  if (opts.max_rounds < 1) return absl::InvalidArgumentError("max_rounds must be >= 1");
  if (opts.max_new_tokens < 1) return absl::InvalidArgumentError("max_new_tokens must be >= 1");
  if (s.index->live_documents() == 0) {
    return absl::FailedPreconditionError("the memory holds no live document to answer from");
  }
  MNEME_ASSIGN_OR_RETURN(model::Sampler sampler, model::Sampler::Create(opts.sampling));
  const auto t_start = std::chrono::steady_clock::now();
  MNEME_ASSIGN_OR_RETURN(query::QueryTokens q, query::TokenizeQuery(*s.tok, question));
  Context ctx;
  ctx.ids = q.ids;
  for (int64_t i = 0; i < q.prompt_tokens; ++i) ctx.prompt_rows.push_back(i);
  ctx.routing_rows = ctx.prompt_rows;

  AskResult result;
  std::vector<int32_t> all_new;  // generated and injected, in order
  std::vector<float> logits;
  int budget = opts.max_new_tokens;
  bool finished = false;
  for (int round = 1; round <= opts.max_rounds && !finished && budget > 0; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    MNEME_RETURN_IF_ERROR(s.runner->Prefill(ctx.ids, s.FirstPosition(), ctx.routing_rows, budget, &logits));
    result.prefill_ms += MsSince(t0);
    t0 = std::chrono::steady_clock::now();
    AskRound rec;
    rec.routing = s.runner->routing();
    bool reprefill = false;
    while (budget > 0 && !reprefill) {
      MNEME_ASSIGN_OR_RETURN(int32_t next, sampler.Sample(logits));
      --budget;
      ++result.new_tokens;
      rec.new_ids.push_back(next);
      all_new.push_back(next);
      ctx.ids.push_back(next);
      if (on_token) on_token(next);
      if (next == s.special.im_end) {
        finished = true;
        break;
      }
      std::vector<int32_t> block = {next};
      bool causal = true;
      if (next == s.special.object_ref_end) {
        // Inject the texts of the valid ids this round emitted.
        std::vector<int32_t> known;
        for (int32_t id : rec.new_ids) {
          if (id < s.tok->vocab_size()) known.push_back(id);
        }
        MNEME_ASSIGN_OR_RETURN(std::string round_text, s.tok->Decode(known));
        std::set<int64_t> valid;
        for (int64_t id : query::ParseDocumentIds(round_text)) {
          if (s.index->IsLive(id)) {
            valid.insert(id);
          } else {
            ++result.ignored_ids;
          }
        }
        if (!valid.empty()) {
          std::vector<int64_t> injected_rows;
          for (int64_t id : valid) {
            MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> t, s.tok->Encode(query::InjectedText(id, s.index->text(id))));
            for (size_t i = 0; i < t.size(); ++i) {
              injected_rows.push_back(static_cast<int64_t>(ctx.ids.size() + i));
            }
            ctx.ids.insert(ctx.ids.end(), t.begin(), t.end());
            all_new.insert(all_new.end(), t.begin(), t.end());
            block.insert(block.end(), t.begin(), t.end());
            rec.injected.push_back(id);
          }
          ctx.ids.push_back(s.special.object_ref_end);
          all_new.push_back(s.special.object_ref_end);
          block.push_back(s.special.object_ref_end);
          if (round < opts.max_rounds) {
            ctx.routing_rows = ctx.prompt_rows;
            ctx.routing_rows.insert(ctx.routing_rows.end(), injected_rows.begin(), injected_rows.end());
            reprefill = true;
            break;
          }
        }
      } else if (next == s.special.end_of_retrieve) {
        MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> t, s.tok->Encode(query::QuestionReminderText(question)));
        ctx.ids.insert(ctx.ids.end(), t.begin(), t.end());
        all_new.insert(all_new.end(), t.begin(), t.end());
        block.insert(block.end(), t.begin(), t.end());
        causal = opts.causal_injection;
      }
      if (budget > 0) MNEME_RETURN_IF_ERROR(s.runner->Extend(block, causal, &logits));
    }
    result.decode_ms += MsSince(t0);
    result.rounds.push_back(std::move(rec));
  }

  std::vector<int32_t> known;
  for (int32_t id : all_new) {
    if (id < s.tok->vocab_size() && id != s.special.im_end) known.push_back(id);
  }
  MNEME_ASSIGN_OR_RETURN(result.text, s.tok->Decode(known));
  const size_t at = result.text.rfind(query::kAnswerPhrase);
  if (at != std::string::npos) {
    result.answer = result.text.substr(at + std::string_view(query::kAnswerPhrase).size());
    while (!result.answer.empty() && result.answer.front() == ' ') result.answer.erase(0, 1);
  } else {
    std::vector<int32_t> last;
    for (int32_t id : result.rounds.back().new_ids) {
      if (id < s.tok->vocab_size() && id != s.special.im_end) last.push_back(id);
    }
    MNEME_ASSIGN_OR_RETURN(result.answer, s.tok->Decode(last));
  }
  result.total_ms = MsSince(t_start);
  return result;
}

}  // namespace mneme
