// The plain-loop ops of the CPU backend (kernels/reference/) against independent formulas:
// chunk pooling against double-precision means, the attention log-sum-exp and AttentionMerge
// against attention over the whole key set, (de)quantisation against its error bounds, and
// sampling against softmax frequencies and the nucleus rule.
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "common/half.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/test_util.h"

namespace mneme::kernels {
namespace {

class ReferenceOpsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be_ = NewCpuBackend();
};

TEST_F(ReferenceOpsTest, ChunkPoolIsTheMeanAndL2NormalisesHeads) {
  struct Case { int64_t rows, width, pool, l2; };
  for (const Case c : {Case{1, 1, 64, 0}, Case{63, 7, 64, 0}, Case{64, 16, 64, 8}, Case{65, 16, 64, 16},
                       Case{1000, 24, 7, 8}, Case{129, 256, 64, 128}}) {
    const auto x = Random(size_t(c.rows * c.width), 3);
    const int64_t chunks = (c.rows + c.pool - 1) / c.pool;
    std::vector<float> out(size_t(chunks * c.width), NAN);
    ASSERT_TRUE(be_->ChunkPool({x.data(), out.data(), c.rows, c.width, c.pool, c.l2}).ok());
    for (int64_t ch = 0; ch < chunks; ++ch) {
      std::vector<double> mean(size_t(c.width), 0.0);
      const int64_t begin = ch * c.pool, end = std::min(c.rows, begin + c.pool);
      for (int64_t r = begin; r < end; ++r)
        for (int64_t j = 0; j < c.width; ++j) mean[size_t(j)] += x[size_t(r * c.width + j)];
      for (double& m : mean) m /= double(end - begin);
      if (c.l2 > 0) {
        for (int64_t at = 0; at < c.width; at += c.l2) {
          double ss = 0;
          for (int64_t j = 0; j < c.l2; ++j) ss += mean[size_t(at + j)] * mean[size_t(at + j)];
          for (int64_t j = 0; j < c.l2; ++j) mean[size_t(at + j)] /= std::sqrt(ss);
        }
      }
      for (int64_t j = 0; j < c.width; ++j) {
        ASSERT_NEAR(out[size_t(ch * c.width + j)], mean[size_t(j)], 1e-5) << c.rows << "x" << c.width << " chunk " << ch;
      }
    }
  }
  std::vector<float> zeros(8, 0.0f), out(8, NAN);
  ASSERT_TRUE(be_->ChunkPool({zeros.data(), out.data(), 1, 8, 64, 4}).ok());
  for (float v : out) EXPECT_EQ(v, 0.0f);  // a zero head stays zero, not NaN
  EXPECT_EQ(be_->ChunkPool({zeros.data(), out.data(), 1, 8, 64, 3}).code(), absl::StatusCode::kInvalidArgument);
}

// Attention over keys [0, n) equals the log-sum-exp merge of attentions over [0, a) and [a, n),
// and the merged log-sum-exp equals the whole one (double-precision check of the lse itself).
TEST_F(ReferenceOpsTest, AttentionLseAndMergeReassembleTheWhole) {
  const int64_t t = 3, n = 37, heads = 4, kv_heads = 2, d = 16;
  const auto q = Random(size_t(t * heads * d), 1), k = Random(size_t(n * kv_heads * d), 2),
             v = Random(size_t(n * kv_heads * d), 3);
  const float scale = 0.25f;
  auto attend = [&](int64_t from, int64_t len, float* out, float* lse) {
    AttentionParams p{q.data(), k.data() + from * kv_heads * d, v.data() + from * kv_heads * d, out, t, len,
                      len - t, heads, kv_heads, d, scale, /*causal=*/false};
    p.lse = lse;
    return be_->Attention(p);
  };
  std::vector<float> whole(static_cast<size_t>(t * heads * d)), whole_lse(static_cast<size_t>(t * heads));
  ASSERT_TRUE(attend(0, n, whole.data(), whole_lse.data()).ok());
  for (int64_t r = 0; r < t * heads; ++r) {
    const int64_t tok = r / heads, g = (r % heads) / (heads / kv_heads);
    double s = 0;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < d; ++i) dot += double(q[size_t(r * d + i)]) * k[size_t((j * kv_heads + g) * d + i)];
      s += std::exp(scale * dot);
    }
    EXPECT_NEAR(whole_lse[size_t(r)], std::log(s), 1e-5) << "row " << r << " token " << tok;
  }
  for (int64_t a : {int64_t{3}, int64_t{20}, int64_t{34}}) {
    std::vector<float> parts(static_cast<size_t>(2 * t * heads * d)), lses(static_cast<size_t>(2 * t * heads));
    ASSERT_TRUE(attend(0, a, parts.data(), lses.data()).ok());
    ASSERT_TRUE(attend(a, n - a, parts.data() + t * heads * d, lses.data() + t * heads).ok());
    std::vector<float> merged(whole.size(), NAN), merged_lse(whole_lse.size(), NAN);
    ASSERT_TRUE(be_->AttentionMerge({parts.data(), lses.data(), merged.data(), merged_lse.data(), 2, t * heads, d}).ok());
    for (size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(merged[i], whole[i], 1e-5) << "split " << a;
    for (size_t i = 0; i < whole_lse.size(); ++i) ASSERT_NEAR(merged_lse[i], whole_lse[i], 1e-5);
  }
  // A part that saw no key (lse -inf) contributes nothing; all parts empty gives zeros and -inf.
  std::vector<float> outs = {1, 2, 7, 7}, lses = {0.5f, -INFINITY}, out(2), lse(1);
  ASSERT_TRUE(be_->AttentionMerge({outs.data(), lses.data(), out.data(), lse.data(), 2, 1, 2}).ok());
  EXPECT_EQ(out, (std::vector<float>{1, 2}));
  EXPECT_FLOAT_EQ(lse[0], 0.5f);
  lses = {-INFINITY, -INFINITY};
  ASSERT_TRUE(be_->AttentionMerge({outs.data(), lses.data(), out.data(), lse.data(), 2, 1, 2}).ok());
  EXPECT_EQ(out, (std::vector<float>{0, 0}));
  EXPECT_EQ(lse[0], -INFINITY);
}

// Packed sequences (AttentionParams::seq_starts) give each sequence exactly its attention alone;
// malformed boundaries are refused.
TEST_F(ReferenceOpsTest, PackedAttentionEqualsEachSequenceAlone) {
  const std::vector<int32_t> starts = {0, 1, 71, 200, 205, 345};
  const int64_t t = starts.back(), heads = 4, kv_heads = 2, d = 16;
  const auto q = Random(size_t(t * heads * d), 41), k = Random(size_t(t * kv_heads * d), 42),
             v = Random(size_t(t * kv_heads * d), 43);
  std::vector<float> packed(q.size()), alone(q.size()), packed_lse(size_t(t * heads)), alone_lse(packed_lse.size());
  AttentionParams p{q.data(), k.data(), v.data(), packed.data(), t, t, 0, heads, kv_heads, d, 0.1f, true};
  p.seq_starts = starts.data();
  p.num_seqs = int64_t(starts.size()) - 1;
  p.lse = packed_lse.data();
  ASSERT_TRUE(be_->Attention(p).ok());
  for (size_t s = 0; s + 1 < starts.size(); ++s) {
    const int64_t b = starts[s], n = starts[s + 1] - b;
    AttentionParams one{q.data() + b * heads * d, k.data() + b * kv_heads * d, v.data() + b * kv_heads * d,
                        alone.data() + b * heads * d, n, n, 0, heads, kv_heads, d, 0.1f, true};
    one.lse = alone_lse.data() + b * heads;
    ASSERT_TRUE(be_->Attention(one).ok());
  }
  EXPECT_EQ(packed, alone);
  EXPECT_EQ(packed_lse, alone_lse);
  for (const std::vector<int32_t>& bad : {std::vector<int32_t>{0, 5, 5, int32_t(t)}, std::vector<int32_t>{1, int32_t(t)},
                                          std::vector<int32_t>{0, 9}}) {
    p.seq_starts = bad.data();
    p.num_seqs = int64_t(bad.size()) - 1;
    EXPECT_EQ(be_->Attention(p).code(), absl::StatusCode::kInvalidArgument) << bad.size();
  }
  p.seq_starts = starts.data();
  p.num_seqs = int64_t(starts.size()) - 1;
  p.q_offset = 1;  // packing needs a whole causal block from row 0
  EXPECT_EQ(be_->Attention(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReferenceOpsTest, QuantizeRoundTripsWithinHalfAStep) {
  const int64_t group = 128, n = 7 * group;
  auto x = Random(size_t(n), 5, 3.0f);
  std::fill(x.begin() + 2 * group, x.begin() + 3 * group, 0.0f);  // a zero group
  x[size_t(4 * group)] = 1e30f;                                   // a group with a huge value
  for (ByteCodec codec : {ByteCodec::kInt8, ByteCodec::kFp8}) {
    std::vector<uint8_t> codes(static_cast<size_t>(n));
    std::vector<float> scales(static_cast<size_t>(n / group)), back(static_cast<size_t>(n), NAN);
    ASSERT_TRUE(be_->Quantize({x.data(), codes.data(), scales.data(), n, group, codec}).ok());
    ASSERT_TRUE(be_->Dequantize({codes.data(), scales.data(), back.data(), n, group,
                                 codec == ByteCodec::kInt8 ? CodeType::kInt8 : CodeType::kFp8}).ok());
    for (int64_t g = 0; g < n / group; ++g) {
      float amax = 0;
      for (int64_t i = 0; i < group; ++i) amax = std::max(amax, std::abs(x[size_t(g * group + i)]));
      for (int64_t i = 0; i < group; ++i) {
        const float want = x[size_t(g * group + i)], got = back[size_t(g * group + i)];
        // int8: half a step of amax / 127; fp8 e4m3: 2^-4 relative, or half the smallest
        // subnormal step (2^-10 of the scale) near zero.
        const double bound = codec == ByteCodec::kInt8 ? amax / 127.0 * 0.5001
                                                       : std::max(std::abs(want) / 16.0, amax / 448.0 * 0x1p-10);
        ASSERT_LE(std::abs(double(got) - want), bound * 1.0001 + 1e-30) << "group " << g << " item " << i;
      }
    }
  }
  // bf16 widening is exact.
  std::vector<uint16_t> h(n);
  std::vector<float> wide(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) h[size_t(i)] = FloatToBf16(x[size_t(i)]);
  ASSERT_TRUE(be_->Dequantize({h.data(), nullptr, wide.data(), n, 0, CodeType::kBf16}).ok());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(wide[size_t(i)], Bf16ToFloat(h[size_t(i)]));
  std::vector<uint8_t> c10(10);
  std::vector<float> s4(4);
  EXPECT_EQ(be_->Quantize({x.data(), c10.data(), s4.data(), 10, 3, ByteCodec::kInt8}).code(),
            absl::StatusCode::kInvalidArgument);  // 10 values do not split into groups of 3
}

int32_t SampleCpu(Backend* be, const std::vector<float>& logits, double t, double top_p, double u) {
  int32_t token = -1;
  const absl::Status s = be->Sample({logits.data(), int64_t(logits.size()), t, top_p, u, &token});
  EXPECT_TRUE(s.ok()) << s;
  return token;
}

TEST_F(ReferenceOpsTest, SampleGreedyFrequenciesAndNucleus) {
  // Greedy: lowest id among equal maxima; a NaN is refused.
  EXPECT_EQ(SampleCpu(be_.get(), {0.5f, 2.0f, 1.0f, 2.0f}, 0.0, 1.0, 0.3), 1);
  std::vector<float> nan = {0.0f, NAN};
  int32_t token = 0;
  EXPECT_EQ(be_->Sample({nan.data(), 2, 1.0, 1.0, 0.5, &token}).code(), absl::StatusCode::kInvalidArgument);
  // Stratified uniforms reproduce softmax frequencies (T = 2 halves the logits).
  const std::vector<float> logits = {1.0f, 3.0f, 0.0f, 2.0f, -1.0f};
  std::vector<double> p(logits.size());
  double z = 0;
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(logits[i] / 2.0);
  std::map<int32_t, int> hits;
  const int draws = 10000;
  for (int i = 0; i < draws; ++i) ++hits[SampleCpu(be_.get(), logits, 2.0, 1.0, (i + 0.5) / draws)];
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(hits[int32_t(i)] / double(draws), p[i] / z, 2e-4) << i;
  // top_p: masses e^3, e^2, e^1 ... at T = 1: 0.64, 0.24, 0.09, ...; top_p 0.8 keeps ids 1 and 3.
  hits.clear();
  for (int i = 0; i < 1000; ++i) ++hits[SampleCpu(be_.get(), logits, 1.0, 0.8, (i + 0.5) / 1000)];
  EXPECT_EQ(hits.size(), 2u);
  EXPECT_NEAR(hits[1] / 1000.0, std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 2e-3);
  // Ties at the threshold are all kept: three equal maxima with top_p 0.1 keep all three.
  hits.clear();
  for (int i = 0; i < 300; ++i) ++hits[SampleCpu(be_.get(), {5.0f, 5.0f, 0.0f, 5.0f}, 1.0, 0.1, (i + 0.5) / 300)];
  EXPECT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0], 100);
  EXPECT_EQ(hits[3], 100);
}

}  // namespace
}  // namespace mneme::kernels
