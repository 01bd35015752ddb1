// Parity with Hugging Face transformers: the fixtures under tests/fixtures/hf were produced by
// tools/fixtures/make_hf_fixtures.py (transformers 5.17, fp32 eager attention, greedy decoding
// by full recomputation). Here the same checkpoints run through Qwen3Model + Qwen3Runner.
#include <cmath>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "engine/model/generator.h"
#include "engine/model/qwen3_model.h"
#include "engine/model/qwen3_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/test_util.h"

namespace mneme::model {
namespace {

const char kFixtures[] = "tests/fixtures/hf";

nlohmann::json Expected() {
  auto j = ReadJsonFile(std::string(kFixtures) + "/expected.json");
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : nlohmann::json();
}

// max |got - want| / max |want|, and NaN-checks.
double RelErr(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    EXPECT_FALSE(std::isnan(got[i]));
    max_ref = std::max(max_ref, std::abs(double(want[i])));
    max_err = std::max(max_err, std::abs(double(got[i]) - want[i]));
  }
  EXPECT_GT(max_ref, 0.0);
  return max_err / max_ref;
}

// Parameters: (fixture model, backend); the cuda instances skip, saying so, without a GPU.
class Qwen3ParityTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    std::string why;
    auto be = kernels::BackendForTest(std::get<1>(GetParam()), &why);
    ASSERT_TRUE(be.ok()) << be.status();
    if (*be == nullptr) GTEST_SKIP() << why << "; run build/engine/model/mneme_model_test on a GPU host (docs/gpu.md)";
    backend_ = std::move(*be);
    dir_ = std::string(kFixtures) + "/" + std::get<0>(GetParam());
    auto m = Qwen3Model::Load(dir_, backend_.get());
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    cases_ = Expected()["models"][std::get<0>(GetParam())];
    ASSERT_FALSE(cases_.empty());
  }
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<Qwen3Model> model_;
  std::string dir_;
  nlohmann::json cases_;
};

TEST_P(Qwen3ParityTest, TokenizerGivesHfPromptIds) {
  auto tok = tokenizer::Tokenizer::FromFile(dir_ + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const auto& c : cases_) {
    auto ids = (*tok)->Encode(c["prompt"].get<std::string>());
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c["prompt_ids"].get<std::vector<int32_t>>()) << c["prompt"];
  }
}

TEST_P(Qwen3ParityTest, LastLogitsMatchHf) {
  for (const auto& c : cases_) {
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto want = c["last_logits"].get<std::vector<float>>();
    for (int64_t batch : {int64_t{256}, int64_t{3}, int64_t{1}}) {  // whole, chunked, token by token
      auto runner = Qwen3Runner::Create(model_.get(), 64, batch);
      ASSERT_TRUE(runner.ok());
      std::vector<float> logits;
      ASSERT_TRUE((*runner)->Forward(prompt, &logits).ok());
      EXPECT_LT(RelErr(logits, want), 1e-4) << c["prompt"] << " batch " << batch;
    }
  }
}

TEST_P(Qwen3ParityTest, GreedyContinuationMatchesHf) {
  for (const auto& c : cases_) {
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto want = c["greedy_ids"].get<std::vector<int32_t>>();
    auto runner = Qwen3Runner::Create(model_.get(), 64);
    ASSERT_TRUE(runner.ok());
    GenerateOptions opts;
    opts.max_new_tokens = static_cast<int>(want.size());
    auto r = Generate(runner->get(), prompt, opts);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->new_ids, want) << c["prompt"];
  }
}

// bf16 projection weights (the GPU default, --precision auto) stay close to transformers' fp32
// logits; the bound is loose by design: every product rounds its activations to bf16. A backend
// without bf16 weights (cpu) must refuse them by name rather than compute something else.
TEST_P(Qwen3ParityTest, Bf16WeightsStayCloseToHf) {
  LoadOptions lo;
  lo.bf16_weights = true;
  auto m = Qwen3Model::Load(dir_, backend_.get(), lo);
  if (!backend_->supports_bf16_weights()) {
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find(backend_->name()), std::string::npos) << m.status();
    return;
  }
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->matmul_type(), kernels::DType::kBf16);
  EXPECT_LT((*m)->weight_bytes(), model_->weight_bytes());
  for (const auto& c : cases_) {
    auto runner = Qwen3Runner::Create(m->get(), 64);
    ASSERT_TRUE(runner.ok()) << runner.status();
    std::vector<float> logits;
    ASSERT_TRUE((*runner)->Forward(c["prompt_ids"].get<std::vector<int32_t>>(), &logits).ok());
    const auto want = c["last_logits"].get<std::vector<float>>();
    const double err = RelErr(logits, want);
    std::printf("bf16 weights: last-logit error %.2e of the largest logit (%s)\n", err, std::get<0>(GetParam()).c_str());
    EXPECT_LT(err, 5e-2);
  }
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, Qwen3ParityTest,
                         ::testing::Combine(::testing::Values("qwen3_f32", "qwen3_bf16_sharded"),
                                            ::testing::Values("cpu", "cuda")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

TEST(Qwen3RunnerTest, RejectsOverflowAndBadIds) {
  auto backend = kernels::NewCpuBackend();
  auto m = Qwen3Model::Load(std::string(kFixtures) + "/qwen3_f32", backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  auto runner = Qwen3Runner::Create(m->get(), 4);
  ASSERT_TRUE(runner.ok());
  std::vector<float> logits;
  std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_EQ((*runner)->Forward(five, &logits).code(), absl::StatusCode::kOutOfRange);
  std::vector<int32_t> bad = {1, 100000};
  EXPECT_EQ((*runner)->Forward(bad, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*runner)->length(), 0);
  std::vector<int32_t> empty;
  EXPECT_EQ((*runner)->Forward(empty, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Qwen3Runner::Create(m->get(), 0).ok());
}

TEST(Qwen3ModelTest, MissingTensorIsNamed) {
  auto backend = kernels::NewCpuBackend();
  auto m = Qwen3Model::Load("tests/fixtures/hf/tokenizer", backend.get());  // no weights there
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mneme::model
