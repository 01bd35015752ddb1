// The GQA-summed router (one GEMM + max reductions) against the literal per-head formula.
#include "engine/query/router.h"

#include <random>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/test_util.h"

namespace mneme::query {
namespace {

// How RandomIndex fills routing keys: gaussian, gaussian L2-normalised per head of d, or small
// integers (exact in bf16, and every dot product with small-integer queries exact in fp32).
enum class Keys { kGaussian, kUnitHeads, kIntegers };

memory::MemoryIndex RandomIndex(int docs, int64_t width, uint32_t seed, Keys keys, int64_t d = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  memory::MemoryIndex index(1, width);
  for (int i = 0; i < docs; ++i) {
    memory::PooledDocument doc;
    doc.num_chunks = 1 + static_cast<int64_t>(rng() % 7);
    doc.num_tokens = doc.num_chunks * 64;
    std::vector<float> kr(static_cast<size_t>(doc.num_chunks * width));
    for (float& x : kr) x = keys == Keys::kIntegers ? static_cast<float>(static_cast<int>(rng() % 7) - 3) : g(rng);
    if (keys == Keys::kUnitHeads) {
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
    memory::MemoryIndex index = RandomIndex(300, hkv * d, cosine ? 1 : 2, cosine ? Keys::kUnitHeads : Keys::kGaussian, d);
    RoutingMirror mirror(be.get(), &index);
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> q(static_cast<size_t>(t * hq * d));
    for (float& x : q) x = g(rng);
    RouteShape shape{hq, hkv, d, cosine, 16};
    auto fast = RouteLayer(&mirror, 0, q.data(), t, shape);
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
  RoutingMirror mirror(be.get(), &index);
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
  auto top = RouteLayer(&mirror, 0, q.data(), 1, shape);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 2u);
  EXPECT_EQ((*top)[0].ordinal, 0);
  EXPECT_EQ((*top)[1].ordinal, 1);
  ASSERT_TRUE(index.Delete(0).ok());
  top = RouteLayer(&mirror, 0, q.data(), 1, shape);
  EXPECT_EQ((*top)[0].ordinal, 1);
  EXPECT_EQ((*top)[1].ordinal, 3);
  shape.top_k = 10;  // more than live: all 4 live documents
  top = RouteLayer(&mirror, 0, q.data(), 1, shape);
  EXPECT_EQ(top->size(), 4u);
}


// Through the mirror (a backend that is not host-addressable), routing equals the host path
// after every append and delete, including appends that outgrow the mirror's capacity, and only
// what changed is uploaded between queries. head_dim 8 (kv width 16) takes the fp32 device path,
// head_dim 64 (kv width 128) the bf16 RouteTopK path.
class MirrorTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(MirrorTest, FollowsAppendsAndDeletesAndUploadsOnlyChanges) {
  kernels::OpaqueCpuBackend opaque;
  auto cpu = kernels::NewCpuBackend();
  const int64_t hq = 4, hkv = 2, d = GetParam(), width = hkv * d;
  memory::MemoryIndex index = RandomIndex(10, width, 5, Keys::kIntegers);
  RoutingMirror mirrored(&opaque, &index), direct(cpu.get(), &index);
  EXPECT_EQ(mirrored.path(), d == 64 ? RoutingMirror::Path::kDeviceBf16 : RoutingMirror::Path::kDeviceF32);
  EXPECT_EQ(direct.path(), RoutingMirror::Path::kHost);
  memory::MemoryIndex more = RandomIndex(400, width, 6, Keys::kIntegers);  // source of later documents
  std::mt19937 rng(7);
  // q / sqrt(d) / heads stays exactly representable: small integers over a power of two.
  std::vector<float> q(static_cast<size_t>(2 * hq * d));
  for (float& x : q) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  RouteShape shape{hq, hkv, d, false, 5};
  int64_t next = 0;
  for (int round = 0; round < 7; ++round) {
    const size_t before = opaque.uploaded;
    auto a = RouteLayer(&mirrored, 0, q.data(), 2, shape);
    auto b = RouteLayer(&direct, 0, q.data(), 2, shape);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].ordinal, (*b)[i].ordinal) << "round " << round << " rank " << i;
      EXPECT_EQ((*a)[i].score, (*b)[i].score) << "round " << round << " rank " << i;
    }
    EXPECT_EQ(mirrored.synced_chunks(), index.total_chunks());
    if (round > 0 && round != 4) {  // round 4 follows the growth: everything is re-uploaded
      // Uploads: the new chunks' keys and owners, this query's summed q and (bf16 path) the
      // live-set mask, nothing more.
      const size_t q_bytes = 2 * width * sizeof(float);
      EXPECT_LE(opaque.uploaded - before, size_t(3 * 7) * (width * sizeof(float) + sizeof(int32_t)) + q_bytes +
                                              static_cast<size_t>(index.num_documents()));
    }
    if (round == 5) {  // delete this round's winner: it must vanish from both paths at once
      ASSERT_FALSE(a->empty());
      ASSERT_TRUE(index.Delete((*a)[0].ordinal).ok());
      continue;
    }
    // Append 3 documents copied from `more` (round 3 appends 300, past the first 1024-chunk
    // capacity: the buffers must grow).
    for (int i = 0; i < (round == 3 ? 300 : 3); ++i, ++next) {
      memory::PooledDocument doc;
      doc.num_chunks = more.num_chunks(next);
      doc.num_tokens = more.num_tokens(next);
      const size_t n = static_cast<size_t>(doc.num_chunks * width);
      const float* kr = more.routing_keys(0) + more.chunk_begin(next) * width;
      doc.kr = {std::vector<float>(kr, kr + n)};
      doc.k = doc.kr;
      doc.v = doc.kr;
      ASSERT_TRUE(index.Append(std::move(doc), "more").ok());
    }
  }
  // Growth happened (round 3) but not per query: a handful of allocations in all.
  EXPECT_GT(mirrored.synced_chunks(), 1024);
  EXPECT_LE(opaque.allocations, 12);
}

INSTANTIATE_TEST_SUITE_P(Paths, MirrorTest, ::testing::Values(8, 64),
                         [](const auto& info) { return info.param == 8 ? "fp32_width16" : "bf16_width128"; });

}  // namespace
}  // namespace mneme::query
