#include "engine/model/sampler.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace mneme::model {
namespace {

TEST(SamplerTest, GreedyPicksLowestIdOnTies) {
  auto s = Sampler::Create({});
  ASSERT_TRUE(s.ok());
  std::vector<float> logits = {0.5f, 2.0f, 1.0f, 2.0f};
  EXPECT_EQ(*s->Sample(logits), 1);
  EXPECT_EQ(ArgMax(logits), 1);
}

TEST(SamplerTest, RejectsBadOptionsAndNaN) {
  EXPECT_FALSE(Sampler::Create({-1.0, 1.0, 0}).ok());
  EXPECT_FALSE(Sampler::Create({1.0, 0.0, 0}).ok());
  EXPECT_FALSE(Sampler::Create({1.0, 1.5, 0}).ok());
  EXPECT_FALSE(Sampler::Create({INFINITY, 1.0, 0}).ok());
  auto s = Sampler::Create({1.0, 1.0, 0});
  std::vector<float> nan = {0.0f, NAN};
  EXPECT_EQ(s->Sample(nan).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(s->Sample({}).ok());
}

TEST(SamplerTest, SeededRunsRepeatAndSeedsDiffer) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i));
  auto draw = [&](uint64_t seed) {
    auto s = Sampler::Create({1.0, 1.0, seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(*s->Sample(logits));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(SamplerTest, FrequenciesFollowSoftmax) {
  // p = softmax([log 3, 0]) = [0.75, 0.25].
  std::vector<float> logits = {std::log(3.0f), 0.0f};
  auto s = Sampler::Create({1.0, 1.0, 42});
  int zeros = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) zeros += *s->Sample(logits) == 0;
  EXPECT_NEAR(zeros / double(n), 0.75, 0.015);
}

TEST(SamplerTest, TemperatureSharpensAndTopPTruncates) {
  std::vector<float> logits = {1.0f, 0.9f, -5.0f};
  // top_p 0.3 keeps only the most likely token.
  auto s = Sampler::Create({1.0, 0.3, 1});
  for (int i = 0; i < 200; ++i) EXPECT_EQ(*s->Sample(logits), 0);
  // top_p 0.9 keeps tokens 0 and 1, never 2.
  auto s2 = Sampler::Create({1.0, 0.9, 2});
  int ones = 0;
  for (int i = 0; i < 2000; ++i) {
    int32_t t = *s2->Sample(logits);
    EXPECT_NE(t, 2);
    ones += t == 1;
  }
  EXPECT_GT(ones, 700);  // p(1 | {0,1}) ~ 0.475
  // A very low temperature behaves like greedy.
  auto s3 = Sampler::Create({1e-3, 1.0, 3});
  for (int i = 0; i < 200; ++i) EXPECT_EQ(*s3->Sample(logits), 0);
}

}  // namespace
}  // namespace mneme::model
