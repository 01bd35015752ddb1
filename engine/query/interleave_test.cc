// The interleaving state machine with scripted model output; the second-round layout is checked
// against the independent PyTorch reference (tests/fixtures/msa, "second_round").
#include "engine/query/interleave.h"

#include "common/json_util.h"
#include "gtest/gtest.h"

namespace mneme::query {
namespace {

using Kind = Interleaver::Step::Kind;

class InterleaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tokenizer::Tokenizer::FromFile("tests/fixtures/msa/msa_cos/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
    auto sp = SpecialIds::From(*tok_);
    ASSERT_TRUE(sp.ok());
    special_ = *sp;
    auto e = ReadJsonFile("tests/fixtures/msa/expected.json");
    ASSERT_TRUE(e.ok());
    expected_ = *e;
    for (const auto& d : expected_["documents"]) texts_.push_back(d["text"].get<std::string>());
    view_ = {[this](int64_t o) { return o >= 0 && o < static_cast<int64_t>(texts_.size()) && o != dead_; },
             [this](int64_t o) { return texts_[static_cast<size_t>(o)]; }};
  }
  Interleaver Make(const std::string& question, InterleaveOptions opts = {}) {
    auto q = TokenizeQuery(*tok_, question);
    EXPECT_TRUE(q.ok());
    return Interleaver(tok_.get(), special_, view_, question, *q, opts);
  }
  std::vector<int32_t> Tok(const std::string& s) { return *tok_->Encode(s); }

  std::unique_ptr<tokenizer::Tokenizer> tok_;
  SpecialIds special_{};
  nlohmann::json expected_;
  std::vector<std::string> texts_;
  int64_t dead_ = -1;
  MemoryView view_;
};

TEST_F(InterleaveTest, SecondRoundMatchesReferenceLayout) {
  const nlohmann::json& c = expected_["configs"]["msa_cos"]["second_round"];
  Interleaver il = Make(c["question"].get<std::string>());
  EXPECT_EQ(il.context(), c["query_ids"].get<std::vector<int32_t>>());
  const auto generated = c["generated_ids"].get<std::vector<int32_t>>();  // tok("[1][4]") + ORE
  for (size_t i = 0; i + 1 < generated.size(); ++i) {
    auto step = il.OnToken(generated[i]);
    ASSERT_TRUE(step.ok());
    EXPECT_EQ(step->kind, Kind::kForward);
    EXPECT_EQ(step->block, std::vector<int32_t>{generated[i]});
  }
  auto step = il.OnToken(generated.back());
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(step->kind, Kind::kReprefill);
  EXPECT_EQ(il.round(), 2);
  EXPECT_EQ(il.context(), c["context_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(il.routing_rows(), c["routing_token_indices"].get<std::vector<int64_t>>());
  EXPECT_EQ(il.rounds()[0].injected, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(il.ignored_ids(), 0);
}

TEST_F(InterleaveTest, InvalidIdsAreIgnoredAndCounted) {
  dead_ = 2;
  Interleaver il = Make("q");
  for (int32_t id : Tok("see [99] and [2]")) ASSERT_EQ(il.OnToken(id)->kind, Kind::kForward);
  auto step = il.OnToken(special_.object_ref_end);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(step->kind, Kind::kForward);  // nothing valid: decoding continues
  EXPECT_EQ(step->block, std::vector<int32_t>{special_.object_ref_end});
  EXPECT_EQ(il.ignored_ids(), 2);  // 99 does not exist, 2 is deleted
  EXPECT_EQ(il.round(), 1);
}

TEST_F(InterleaveTest, RoundCapInjectsWithoutReprefill) {
  Interleaver il = Make("q", {1, false});
  for (int32_t id : Tok("[3]")) ASSERT_TRUE(il.OnToken(id).ok());
  auto step = il.OnToken(special_.object_ref_end);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(step->kind, Kind::kForward);
  std::vector<int32_t> want = {special_.object_ref_end};
  for (int32_t id : Tok("[3]. " + texts_[3] + "\n")) want.push_back(id);
  want.push_back(special_.object_ref_end);
  EXPECT_EQ(step->block, want);
  EXPECT_EQ(il.round(), 1);
  EXPECT_EQ(il.rounds()[0].injected, std::vector<int64_t>{3});
}

TEST_F(InterleaveTest, EndOfRetrieveInjectsQuestionReminder) {
  for (bool causal : {false, true}) {
    Interleaver il = Make("Who pays?", {4, causal});
    auto step = il.OnToken(special_.end_of_retrieve);
    ASSERT_TRUE(step.ok());
    EXPECT_EQ(step->kind, Kind::kForward);
    EXPECT_EQ(step->causal, causal);
    std::vector<int32_t> want = {special_.end_of_retrieve};
    for (int32_t id : Tok("<|im_start|>The user's question is: Who pays?\n<|object_ref_end|>")) want.push_back(id);
    EXPECT_EQ(step->block, want);
    EXPECT_EQ(il.OnToken(special_.im_end)->kind, Kind::kStop);
  }
}

TEST(ParseDocumentIdsTest, FindsBracketedNumbers) {
  EXPECT_EQ(ParseDocumentIds("[1][4] x [12]. [a] [] [3"), (std::vector<int64_t>{1, 4, 12}));
  EXPECT_EQ(ParseDocumentIds("[99999999999999999999999]"), std::vector<int64_t>{-1});
}

}  // namespace
}  // namespace mneme::query
