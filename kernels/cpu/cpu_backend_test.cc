// Checks each CPU op against an independent double-precision formula on random inputs with
// awkward sizes (1, primes, non-powers of two).
#include "kernels/cpu/cpu_backend.h"

#include <cmath>
#include <algorithm>
#include <complex>
#include <random>
#include <vector>

#include "common/half.h"
#include "gtest/gtest.h"
#include "kernels/test_util.h"
#ifdef MNEME_WITH_CUDA
#include "kernels/cuda/cuda_probe.h"
#endif

namespace mneme::kernels {
namespace {

double MaxRelErr(const std::vector<float>& got, const std::vector<double>& want) {
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_FALSE(std::isnan(got[i])) << "NaN at " << i;
    max_ref = std::max(max_ref, std::abs(want[i]));
    max_err = std::max(max_err, std::abs(got[i] - want[i]));
  }
  EXPECT_GT(max_ref, 0.0) << "reference output is all zeros: the case checks nothing";
  return max_err / max_ref;
}

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be_ = NewCpuBackend();
};

TEST_F(CpuBackendTest, MatMulMatchesNaive) {
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {1, 29, 64}, {7, 13, 5}, {33, 17, 64}, {3, 100, 37}}) {
    auto x = Random(m * k, 1), w = Random(n * k, 2), y = Random(m * n, 3);
    std::vector<double> want(m * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = y[i * n + j];  // accumulate = true
        for (int l = 0; l < k; ++l) s += double(x[i * k + l]) * w[j * k + l];
        want[i * n + j] = s;
      }
    ASSERT_TRUE(be_->MatMul({x.data(), w.data(), y.data(), m, n, k, 0, true}).ok());
    EXPECT_LT(MaxRelErr(y, want), 1e-5) << m << "x" << n << "x" << k;
  }
}

TEST_F(CpuBackendTest, MatMulRejectsBadShapes) {
  float a = 0;
  EXPECT_EQ(be_->MatMul({&a, &a, &a, 0, 1, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(be_->MatMul({nullptr, &a, &a, 1, 1, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(be_->MatMul({&a, &a, &a, 1, 4, 1, 2}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, RmsNormMatchesFormula) {
  const int rows = 5, dim = 37;
  auto x = Random(rows * dim, 4), w = Random(dim, 5);
  std::vector<double> want(rows * dim);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
    for (int i = 0; i < dim; ++i) want[r * dim + i] = w[i] * x[r * dim + i] * inv;
  }
  std::vector<float> y(rows * dim);
  ASSERT_TRUE(be_->RmsNorm({x.data(), w.data(), y.data(), rows, dim, 1e-6f}).ok());
  EXPECT_LT(MaxRelErr(y, want), 1e-6);
  ASSERT_TRUE(be_->RmsNorm({x.data(), w.data(), x.data(), rows, dim, 1e-6f}).ok());  // in place
  EXPECT_LT(MaxRelErr(x, want), 1e-6);
}

TEST_F(CpuBackendTest, RopeIsComplexRotationOfHalves) {
  const int tokens = 3, heads = 2, d = 10;
  auto x = Random(tokens * heads * d, 6);
  std::vector<int32_t> pos = {0, 7, 1023};
  const double theta = 1e6;
  std::vector<double> want(x.size());
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < d / 2; ++i) {
        const float* v = &x[(t * heads + h) * d];
        const double a = pos[t] * std::pow(theta, -2.0 * i / d);
        std::complex<double> z(v[i], v[i + d / 2]);
        z *= std::polar(1.0, a);
        want[(t * heads + h) * d + i] = z.real();
        want[(t * heads + h) * d + i + d / 2] = z.imag();
      }
  ASSERT_TRUE(be_->Rope({x.data(), pos.data(), tokens, heads, d, theta}).ok());
  EXPECT_LT(MaxRelErr(x, want), 2e-4);  // fp32 angles at position 1023
  EXPECT_EQ(be_->Rope({x.data(), pos.data(), tokens, heads, 7, theta}).code(),
            absl::StatusCode::kInvalidArgument);  // odd head_dim
}

TEST_F(CpuBackendTest, AttentionMatchesNaiveCausalGqa) {
  // 5 new queries appended after 6 cached tokens: bottom-right causal.
  const int qt = 5, kv = 11, off = 6, hq = 6, hkv = 2, d = 9;
  auto q = Random(qt * hq * d, 7), k = Random(kv * hkv * d, 8), v = Random(kv * hkv * d, 9);
  const float scale = 1.0f / std::sqrt(float(d));
  std::vector<double> want(qt * hq * d, 0.0);
  for (int t = 0; t < qt; ++t)
    for (int h = 0; h < hq; ++h) {
      const int g = h / (hq / hkv);
      std::vector<double> s;
      double mx = -1e300;
      for (int j = 0; j <= off + t; ++j) {
        double dot = 0;
        for (int i = 0; i < d; ++i) dot += double(q[(t * hq + h) * d + i]) * k[(j * hkv + g) * d + i];
        s.push_back(dot * scale);
        mx = std::max(mx, s.back());
      }
      double z = 0;
      for (double& e : s) z += (e = std::exp(e - mx));
      for (int j = 0; j <= off + t; ++j)
        for (int i = 0; i < d; ++i) want[(t * hq + h) * d + i] += s[j] / z * v[(j * hkv + g) * d + i];
    }
  std::vector<float> out(qt * hq * d, NAN);
  AttentionParams p{q.data(), k.data(), v.data(), out.data(), qt, kv, off, hq, hkv, d, scale};
  ASSERT_TRUE(be_->Attention(p).ok());
  EXPECT_LT(MaxRelErr(out, want), 1e-5);
  p.q_offset = 7;  // 7 + 5 > 11
  EXPECT_EQ(be_->Attention(p).code(), absl::StatusCode::kInvalidArgument);
  p.q_offset = off;
  p.num_kv_heads = 4;  // 6 % 4 != 0
  EXPECT_EQ(be_->Attention(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, NonCausalBlockSeesWholeBlock) {
  // With causal = false the first of 3 new tokens sees all 3 (and the 4 before them): its output
  // equals what a causal query placed last would see.
  const int qt = 3, kv = 7, off = 4, h = 2, d = 8;
  auto q = Random(qt * h * d, 12), k = Random(kv * h * d, 13), v = Random(kv * h * d, 14);
  std::vector<float> full(qt * h * d), last(h * d);
  AttentionParams p{q.data(), k.data(), v.data(), full.data(), qt, kv, off, h, h, d, 0.3f, false};
  ASSERT_TRUE(be_->Attention(p).ok());
  AttentionParams one{q.data(), k.data(), v.data(), last.data(), 1, kv, kv - 1, h, h, d, 0.3f, true};
  ASSERT_TRUE(be_->Attention(one).ok());
  for (int i = 0; i < h * d; ++i) EXPECT_NEAR(full[i], last[i], 1e-6);
}

TEST_F(CpuBackendTest, RouteScoresMatchBruteForce) {
  // 3 query tokens, 5000 chunks (more than one tile) over 37 documents of uneven sizes.
  const int t = 3, width = 24, chunks = 5000, docs = 37;
  auto q = Random(t * width, 15), keys = Random(chunks * width, 16);
  std::vector<int32_t> chunk_doc(chunks);
  for (int c = 0; c < chunks; ++c) chunk_doc[c] = (c * 7 / 1000 + c % 3 * 11) % (docs - 1);  // doc 36 empty
  std::vector<float> got(docs);
  ASSERT_TRUE(be_->RouteScores({q.data(), keys.data(), chunk_doc.data(), got.data(), t, chunks,
                                width, docs}).ok());
  std::vector<double> want(docs, -INFINITY);
  for (int c = 0; c < chunks; ++c)
    for (int i = 0; i < t; ++i) {
      double s = 0;
      for (int w = 0; w < width; ++w) s += double(q[i * width + w]) * keys[c * width + w];
      want[chunk_doc[c]] = std::max(want[chunk_doc[c]], s);
    }
  for (int d = 0; d < docs - 1; ++d) EXPECT_NEAR(got[d], want[d], 1e-4) << d;
  EXPECT_EQ(got[docs - 1], -INFINITY);
  EXPECT_EQ(be_->RouteScores({q.data(), keys.data(), chunk_doc.data(), got.data(), t, chunks, width,
                              0}).code(),
            absl::StatusCode::kInvalidArgument);  // chunks but no documents
}

// The RouteTopK reference against the literal formula in double: bf16-rounded q, bf16 keys,
// per-document max, dead and chunkless documents skipped, ties to the lower document.
TEST_F(CpuBackendTest, RouteTopKMatchesBruteForce) {
  const int t = 4, width = 64, chunks = 900, docs = 120, k = 10;
  auto q = Random(t * width, 17);
  std::vector<uint16_t> keys(chunks * width);
  std::mt19937 rng(18);
  std::normal_distribution<float> g;
  for (uint16_t& x : keys) x = FloatToBf16(g(rng));
  std::vector<int32_t> chunk_doc(chunks);
  for (int c = 0; c < chunks; ++c) chunk_doc[c] = c * (docs - 2) / chunks;  // docs 118, 119: no chunk
  std::vector<uint8_t> dead(docs, 0);
  dead[3] = dead[50] = 1;
  std::vector<double> doc(docs, -INFINITY);
  for (int c = 0; c < chunks; ++c)
    for (int i = 0; i < t; ++i) {
      double s = 0;
      for (int w = 0; w < width; ++w) s += double(Bf16ToFloat(FloatToBf16(q[i * width + w]))) * Bf16ToFloat(keys[c * width + w]);
      doc[chunk_doc[c]] = std::max(doc[chunk_doc[c]], s);
    }
  std::vector<int32_t> order;
  for (int d = 0; d < docs; ++d)
    if (!dead[d] && doc[d] != -INFINITY) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return doc[a] > doc[b]; });
  order.resize(k);
  std::vector<int32_t> ids(k);
  std::vector<float> scores(k);
  int selected = 0;
  RouteTopKParams p;
  p.q = q.data();
  p.keys = keys.data();
  p.chunk_doc = chunk_doc.data();
  p.dead = dead.data();
  p.q_tokens = t;
  p.chunks = chunks;
  p.width = width;
  p.num_docs = docs;
  p.top_k = k;
  p.out_docs = ids.data();
  p.out_scores = scores.data();
  p.selected = &selected;
  ASSERT_TRUE(be_->RouteTopK(p).ok());
  EXPECT_EQ(selected, k);
  EXPECT_EQ(ids, order);
  for (int i = 0; i < k; ++i) EXPECT_NEAR(scores[i], doc[order[i]], 1e-4);
  p.top_k = 0;
  EXPECT_EQ(be_->RouteTopK(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, SwiGluAndEmbedding) {
  const int tokens = 3, inter = 5;
  auto gu = Random(tokens * 2 * inter, 10, 3.0f);
  std::vector<double> want(tokens * inter);
  for (int t = 0; t < tokens; ++t)
    for (int i = 0; i < inter; ++i) {
      const double g = gu[t * 2 * inter + i];
      want[t * inter + i] = g / (1 + std::exp(-g)) * gu[t * 2 * inter + inter + i];
    }
  std::vector<float> out(tokens * inter);
  ASSERT_TRUE(be_->SwiGlu({gu.data(), out.data(), tokens, inter}).ok());
  EXPECT_LT(MaxRelErr(out, want), 1e-6);

  auto table = Random(4 * 3, 11);
  std::vector<int32_t> ids = {3, 0, 3};
  std::vector<float> emb(9);
  ASSERT_TRUE(be_->Embedding({table.data(), ids.data(), emb.data(), 3, 4, 3}).ok());
  EXPECT_EQ(emb[0], table[9]);
  EXPECT_EQ(emb[3], table[0]);
  ids[1] = 4;
  absl::Status s = be_->Embedding({table.data(), ids.data(), emb.data(), 3, 4, 3});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("outside vocabulary"), std::string::npos);
}

TEST(BackendFactoryTest, ParsesKinds) {
  EXPECT_EQ(*ParseBackendKind("cpu"), BackendKind::kCpu);
  EXPECT_EQ(*ParseBackendKind("auto"), BackendKind::kAuto);
  EXPECT_FALSE(ParseBackendKind("tpu").ok());
  auto be = CreateBackend(BackendKind::kAuto);
  ASSERT_TRUE(be.ok()) << be.status();
#ifdef MNEME_WITH_CUDA
  std::string error;
  EXPECT_EQ((*be)->name(), cuda::DeviceCount(&error) > 0 ? "cuda" : "cpu");
#else
  EXPECT_EQ((*be)->name(), "cpu");
#endif
}

}  // namespace
}  // namespace mneme::kernels
