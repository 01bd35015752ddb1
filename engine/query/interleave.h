// Memory interleaving (docs/msa.md §4) as a model-free state machine: it is fed each generated
// token and answers what the engine must do next — forward a block with the selection fixed,
// re-prefill a new round with fresh routing, or stop. Keeping it free of the model lets tests
// script the model's output.
#ifndef MNEME_ENGINE_QUERY_INTERLEAVE_H_
#define MNEME_ENGINE_QUERY_INTERLEAVE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/query/templates.h"
#include "engine/tokenizer/tokenizer.h"

namespace mneme::query {

struct InterleaveOptions {
  int max_rounds = 4;             // >= 1
  bool causal_injection = false;  // false: the question reminder attends bidirectionally
};

// What the memory looks like to the interleaver.
struct MemoryView {
  std::function<bool(int64_t ordinal)> is_live;
  std::function<absl::StatusOr<std::string>(int64_t ordinal)> text;  // of a live document
};

struct InterleaveRound {
  std::vector<int32_t> new_ids;   // generated this round (injected tokens excluded)
  std::vector<int64_t> injected;  // ordinals whose text was injected at the end of the round
};

class Interleaver {
 public:
  struct Step {
    enum class Kind { kForward, kReprefill, kStop };
    Kind kind = Kind::kForward;
    std::vector<int32_t> block;  // kForward: the tokens to run (the new token first)
    bool causal = true;
  };

  // REQUIRES: tok outlives the interleaver.
  Interleaver(const tokenizer::Tokenizer* tok, const SpecialIds& special, MemoryView memory,
              std::string question, const QueryTokens& query, const InterleaveOptions& opts);

  // The current round's full context (query ++ everything generated or injected so far), its
  // routing rows (the prompt, plus the latest injected document texts) and round number (1-based).
  const std::vector<int32_t>& context() const { return context_; }
  const std::vector<int64_t>& routing_rows() const { return routing_rows_; }
  int round() const { return static_cast<int>(rounds_.size()); }

  // Records a generated token and decides the next step. On kReprefill a new round has begun:
  // context() and routing_rows() describe it.
  [[nodiscard]] absl::StatusOr<Step> OnToken(int32_t id);

  const std::vector<InterleaveRound>& rounds() const { return rounds_; }
  const std::vector<int32_t>& all_new() const { return all_new_; }  // generated + injected
  int64_t ignored_ids() const { return ignored_ids_; }

 private:
  absl::StatusOr<Step> OnObjectRefEnd(Step step);
  void Append(const std::vector<int32_t>& ids);

  const tokenizer::Tokenizer* tok_;
  SpecialIds special_;
  MemoryView memory_;
  std::string question_;
  InterleaveOptions opts_;
  std::vector<int32_t> context_;
  std::vector<int64_t> prompt_rows_, routing_rows_;
  std::vector<InterleaveRound> rounds_;
  std::vector<int32_t> all_new_;
  int64_t ignored_ids_ = 0;
};

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_INTERLEAVE_H_
