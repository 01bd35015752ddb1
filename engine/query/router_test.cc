// The GQA-summed router (one GEMM + max reductions) against the literal per-head formula.
#include "engine/query/router.h"

#include <random>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace mneme::query {
namespace {

memory::MemoryIndex RandomIndex(int docs, int64_t width, uint32_t seed, bool normalize, int64_t d) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  memory::MemoryIndex index(1, width);
  for (int i = 0; i < docs; ++i) {
    memory::PooledDocument doc;
    doc.num_chunks = 1 + static_cast<int64_t>(rng() % 7);
    doc.num_tokens = doc.num_chunks * 64;
    std::vector<float> kr(static_cast<size_t>(doc.num_chunks * width));
    for (float& x : kr) x = g(rng);
    if (normalize) {
      for (size_t at = 0; at < kr.size(); at += static_cast<size_t>(d)) {
        float ss = 0;
        for (int64_t j = 0; j < d; ++j) ss += kr[at + j] * kr[at + j];
        for (int64_t j = 0; j < d; ++j) kr[at + j] /= std::sqrt(ss);
      }
    }
    doc.k = {kr};
    doc.v = {kr};
    doc.kr = {kr};
    EXPECT_TRUE(index.Append(std::move(doc), "doc").ok());
  }
  return index;
}

TEST(RouterTest, GqaSummedEqualsNaiveForBothSimilarities) {
  auto be = kernels::NewCpuBackend();
  for (bool cosine : {false, true}) {
    const int64_t hq = 8, hkv = 2, d = 16, t = 5;
    memory::MemoryIndex index = RandomIndex(300, hkv * d, cosine ? 1 : 2, cosine, d);
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> q(static_cast<size_t>(t * hq * d));
    for (float& x : q) x = g(rng);
    RouteShape shape{hq, hkv, d, cosine, 16};
    auto fast = RouteLayer(be.get(), index, 0, q.data(), t, shape);
    ASSERT_TRUE(fast.ok());
    auto naive = RouteLayerNaive(index, 0, q.data(), t, shape);
    ASSERT_EQ(fast->size(), 16u);
    ASSERT_EQ(naive.size(), 16u);
    for (size_t i = 0; i < naive.size(); ++i) {
      EXPECT_EQ((*fast)[i].ordinal, naive[i].ordinal) << "rank " << i << " cosine " << cosine;
      EXPECT_NEAR((*fast)[i].score, naive[i].score, 1e-5);
    }
  }
}

TEST(RouterTest, TiesGoToLowerOrdinalAndDeletedNeverRoute) {
  auto be = kernels::NewCpuBackend();
  memory::MemoryIndex index(1, 4);
  for (int i = 0; i < 5; ++i) {  // documents 1 and 3 identical to 0: equal scores
    memory::PooledDocument doc;
    doc.num_chunks = 1;
    doc.num_tokens = 10;
    const float v = (i == 0 || i == 1 || i == 3) ? 1.0f : 0.1f * i;
    doc.k = doc.v = doc.kr = {{v, v, v, v}};
    ASSERT_TRUE(index.Append(std::move(doc), "d").ok());
  }
  std::vector<float> q = {1, 1, 1, 1};  // one token, one head, one kv head, d = 4
  RouteShape shape{1, 1, 4, false, 2};
  auto top = RouteLayer(be.get(), index, 0, q.data(), 1, shape);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 2u);
  EXPECT_EQ((*top)[0].ordinal, 0);
  EXPECT_EQ((*top)[1].ordinal, 1);
  ASSERT_TRUE(index.Delete(0).ok());
  top = RouteLayer(be.get(), index, 0, q.data(), 1, shape);
  EXPECT_EQ((*top)[0].ordinal, 1);
  EXPECT_EQ((*top)[1].ordinal, 3);
  shape.top_k = 10;  // more than live: all 4 live documents
  top = RouteLayer(be.get(), index, 0, q.data(), 1, shape);
  EXPECT_EQ(top->size(), 4u);
}

}  // namespace
}  // namespace mneme::query
