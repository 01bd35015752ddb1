#include "engine/query/interleave.h"

#include <set>

#include "common/status.h"

namespace mneme::query {

Interleaver::Interleaver(const tokenizer::Tokenizer* tok, const SpecialIds& special,
                         MemoryView memory, std::string question, const QueryTokens& query,
                         const InterleaveOptions& opts)
    : tok_(tok), special_(special), memory_(std::move(memory)), question_(std::move(question)),
      opts_(opts), context_(query.ids) {
  for (int64_t i = 0; i < query.prompt_tokens; ++i) prompt_rows_.push_back(i);
  routing_rows_ = prompt_rows_;
  rounds_.emplace_back();
}

void Interleaver::Append(const std::vector<int32_t>& ids) {
  context_.insert(context_.end(), ids.begin(), ids.end());
  all_new_.insert(all_new_.end(), ids.begin(), ids.end());
}

absl::StatusOr<Interleaver::Step> Interleaver::OnToken(int32_t id) {
  rounds_.back().new_ids.push_back(id);
  Append({id});
  Step step;
  step.block = {id};
  if (id == special_.im_end) {
    step.kind = Step::Kind::kStop;
    return step;
  }
  if (id == special_.object_ref_end) return OnObjectRefEnd(std::move(step));
  if (id == special_.end_of_retrieve) {
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> t, tok_->Encode(QuestionReminderText(question_)));
    Append(t);
    step.block.insert(step.block.end(), t.begin(), t.end());
    step.causal = opts_.causal_injection;
  }
  return step;
}

absl::StatusOr<Interleaver::Step> Interleaver::OnObjectRefEnd(Step step) {
  // Ids named in this round's generated text.
  MNEME_ASSIGN_OR_RETURN(std::string text, tok_->Decode(rounds_.back().new_ids, /*skip_unknown=*/true));
  std::set<int64_t> valid;
  for (int64_t ordinal : ParseDocumentIds(text)) {
    if (ordinal >= 0 && memory_.is_live(ordinal)) {
      valid.insert(ordinal);
    } else {
      ++ignored_ids_;
    }
  }
  if (valid.empty()) return step;  // nothing to inject: decoding goes on
  std::vector<int64_t> injected_rows;
  for (int64_t ordinal : valid) {
    MNEME_ASSIGN_OR_RETURN(const std::string text, memory_.text(ordinal));
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> t, tok_->Encode(InjectedText(ordinal, text)));
    for (size_t i = 0; i < t.size(); ++i) injected_rows.push_back(static_cast<int64_t>(context_.size() + i));
    Append(t);
    step.block.insert(step.block.end(), t.begin(), t.end());
    rounds_.back().injected.push_back(ordinal);
  }
  Append({special_.object_ref_end});
  step.block.push_back(special_.object_ref_end);
  if (round() < opts_.max_rounds) {
    routing_rows_ = prompt_rows_;
    routing_rows_.insert(routing_rows_.end(), injected_rows.begin(), injected_rows.end());
    rounds_.emplace_back();
    step.kind = Step::Kind::kReprefill;
    step.block.clear();
  }
  return step;
}

}  // namespace mneme::query
