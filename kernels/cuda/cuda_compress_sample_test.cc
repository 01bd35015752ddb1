// CUDA parity of the memory-compression ops, the attention merge and sampling, against the CPU
// reference (kernels/reference/). Pooled means and quantisation codes are bit-identical by
// construction (same operation order, IEEE division, round-to-nearest-even); sampling agrees
// exactly wherever the uniform draw and top_p are not within rounding of a boundary.
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "common/half.h"
#include "kernels/cuda/parity_fixture.h"

namespace mneme::kernels {
namespace {

TEST_F(CudaParityTest, ChunkPool) {
  struct Case { int64_t rows, width, pool, l2; };
  for (const Case c : {Case{1, 1, 64, 0}, Case{63, 7, 64, 0}, Case{64, 1024, 64, 128}, Case{65, 1024, 64, 0},
                       Case{4097, 1024, 64, 128}, Case{1000, 24, 7, 8}, Case{257, 300, 64, 0}}) {
    const auto x = Random(size_t(c.rows * c.width), 21);
    const int64_t chunks = (c.rows + c.pool - 1) / c.pool;
    std::vector<float> want(static_cast<size_t>(chunks * c.width));
    ASSERT_TRUE(cpu_->ChunkPool({x.data(), want.data(), c.rows, c.width, c.pool, c.l2}).ok());
    float* out = Poisoned(want.size());
    ASSERT_TRUE(gpu_->ChunkPool({Up(x), out, c.rows, c.width, c.pool, c.l2}).ok());
    const std::vector<float> got = Down(out, want.size());
    if (c.l2 == 0) {
      ASSERT_EQ(got, want) << c.rows << "x" << c.width << " pool " << c.pool << ": means differ in bits";
    } else {
      EXPECT_LT(RelErr(got, want), 1e-6) << c.rows << "x" << c.width << " l2 " << c.l2;
    }
  }
}

TEST_F(CudaParityTest, AttentionMerge) {
  for (auto [parts, rows, d] : {std::tuple{1, 1, 1}, {2, 7, 128}, {5, 33, 64}, {64, 32, 128}, {3, 1000, 200}}) {
    auto outs = Random(size_t(parts * rows * d), 3), lses = Random(size_t(parts * rows), 4, 5.0f);
    for (size_t i = 0; i < lses.size(); i += 3) lses[i] = -INFINITY;  // empty parts
    for (int64_t s = 0; s < parts; ++s) lses[size_t(s * rows)] = -INFINITY;  // row 0: all parts empty
    std::vector<float> want(static_cast<size_t>(rows * d)), want_lse(static_cast<size_t>(rows));
    ASSERT_TRUE(cpu_->AttentionMerge({outs.data(), lses.data(), want.data(), want_lse.data(), parts, rows, d}).ok());
    float* out = Poisoned(want.size());
    float* lse = Poisoned(want_lse.size());
    ASSERT_TRUE(gpu_->AttentionMerge({Up(outs), Up(lses), out, lse, parts, rows, d}).ok());
    if (rows > 1) {
      EXPECT_LT(RelErr(Down(out, want.size()), want), 1e-6) << parts << " parts, " << rows << " rows";
    }
    const std::vector<float> got_lse = Down(lse, want_lse.size());
    for (size_t r = 0; r < want_lse.size(); ++r) {
      if (std::isinf(want_lse[r])) {
        ASSERT_EQ(got_lse[r], want_lse[r]) << r;
      } else {
        ASSERT_NEAR(got_lse[r], want_lse[r], 1e-5 * std::max(1.0f, std::abs(want_lse[r]))) << r;
      }
    }
  }
}

TEST_F(CudaParityTest, QuantizeAndDequantizeAreBitExact) {
  for (auto [n, group] : {std::tuple{int64_t{1}, int64_t{1}}, {int64_t{128}, int64_t{128}}, {int64_t{31 * 128}, int64_t{128}},
                          {int64_t{1000}, int64_t{40}}, {int64_t{262144}, int64_t{128}}}) {
    auto x = Random(size_t(n), 7, 2.0f);
    if (n >= 3 * group) {
      std::fill(x.begin() + group, x.begin() + 2 * group, 0.0f);  // a zero group
      x[size_t(2 * group)] = 1e-38f;                            // subnormal-scale group
      for (int64_t i = 2 * group + 1; i < 3 * group; ++i) x[size_t(i)] *= 1e-30f;
    }
    for (ByteCodec codec : {ByteCodec::kInt8, ByteCodec::kFp8}) {
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      std::vector<float> scales(static_cast<size_t>(n / group)), back(static_cast<size_t>(n));
      const CodeType type = codec == ByteCodec::kInt8 ? CodeType::kInt8 : CodeType::kFp8;
      ASSERT_TRUE(cpu_->Quantize({x.data(), codes.data(), scales.data(), n, group, codec}).ok());
      ASSERT_TRUE(cpu_->Dequantize({codes.data(), scales.data(), back.data(), n, group, type}).ok());
      uint8_t* dcodes = Up(std::vector<uint8_t>(size_t(n), 0x7F));
      float* dscales = Poisoned(scales.size());
      ASSERT_TRUE(gpu_->Quantize({Up(x), dcodes, dscales, n, group, codec}).ok());
      std::vector<uint8_t> got_codes(static_cast<size_t>(n));
      ASSERT_TRUE(gpu_->Synchronize().ok());
      ASSERT_TRUE(gpu_->CopyToHost(got_codes.data(), dcodes, got_codes.size()).ok());
      ASSERT_EQ(got_codes, codes) << n << "/" << group << (codec == ByteCodec::kFp8 ? " fp8" : " int8");
      ASSERT_EQ(Down(dscales, scales.size()), scales);
      float* dback = Poisoned(back.size());
      ASSERT_TRUE(gpu_->Dequantize({Up(codes), Up(scales), dback, n, group, type}).ok());
      ASSERT_EQ(Down(dback, back.size()), back);
    }
    std::vector<uint16_t> h(static_cast<size_t>(n));
    std::vector<float> wide(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) h[size_t(i)] = FloatToBf16(x[size_t(i)]);
    ASSERT_TRUE(cpu_->Dequantize({h.data(), nullptr, wide.data(), n, 0, CodeType::kBf16}).ok());
    float* dwide = Poisoned(wide.size());
    ASSERT_TRUE(gpu_->Dequantize({Up(h), nullptr, dwide, n, 0, CodeType::kBf16}).ok());
    ASSERT_EQ(Down(dwide, wide.size()), wide);
  }
}

// The nucleus and cumulative masses of ops.h's rule, in double (the check's own formula).
struct Nucleus {
  std::vector<double> p;
  double tau = 0, mass = 0;
};
Nucleus NucleusOf(const std::vector<float>& logits, double t, double top_p) {
  Nucleus n;
  const double max = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float l : logits) total += n.p.emplace_back(std::exp((l - max) / t));
  std::vector<double> sorted = n.p;
  std::sort(sorted.rbegin(), sorted.rend());
  double cum = 0;
  for (double v : sorted) {
    cum += v;
    n.tau = v;
    if (cum >= top_p * total) break;
  }
  for (double v : n.p) n.mass += v >= n.tau ? v : 0;
  return n;
}

// Greedy is exact, ties included. A sampled token must lie in the nucleus (of a top_p a hair
// larger, for rounding) and its cumulative-mass interval must contain the uniform draw up to
// 1e-5 of the mass (fp32 sums on the GPU); nearly all draws must pick the reference's token.
void CheckSample(Backend* gpu, Backend* cpu, const std::vector<float>& logits, const float* dlogits) {
  auto sample = [&](Backend* be, const float* l, double t, double top_p, double u) {
    int32_t token = -1;
    const absl::Status s = be->Sample({l, int64_t(logits.size()), t, top_p, u, &token});
    EXPECT_TRUE(s.ok()) << s;
    return token;
  };
  EXPECT_EQ(sample(gpu, dlogits, 0.0, 1.0, 0.5), sample(cpu, logits.data(), 0.0, 1.0, 0.5)) << logits.size();
  for (auto [t, top_p] : {std::pair{1.0, 1.0}, {0.7, 0.9}, {1.3, 0.5}, {1.0, 0.01}}) {
    const Nucleus wide = NucleusOf(logits, t, std::min(1.0, top_p * (1 + 1e-4)));
    const Nucleus n = NucleusOf(logits, t, top_p);
    int same = 0;
    const int draws = 100;
    for (int i = 0; i < draws; ++i) {
      const double u = (i + 0.37) / draws;
      const int32_t got = sample(gpu, dlogits, t, top_p, u);
      ASSERT_TRUE(got >= 0 && got < int32_t(logits.size()));
      ASSERT_GE(wide.p[size_t(got)], wide.tau) << "token " << got << " outside the nucleus, top_p " << top_p;
      double below = 0;
      for (int32_t j = 0; j < got; ++j) below += n.p[size_t(j)] >= n.tau ? n.p[size_t(j)] : 0;
      const double slack = 1e-5 * n.mass;
      EXPECT_LE(below, u * n.mass + slack) << "vocab " << logits.size() << " T " << t << " top_p " << top_p << " u " << u;
      EXPECT_GE(below + n.p[size_t(got)], u * n.mass - slack) << "vocab " << logits.size() << " u " << u;
      same += got == sample(cpu, logits.data(), t, top_p, u);
    }
    EXPECT_GE(same, draws * 9 / 10) << "vocab " << logits.size() << " T " << t << " top_p " << top_p;
  }
}

TEST_F(CudaParityTest, SampleMatchesReference) {
  std::mt19937 rng(5);
  for (int64_t vocab : {int64_t{1}, int64_t{2}, int64_t{1031}, int64_t{5000}}) {
    std::vector<float> ints(static_cast<size_t>(vocab));  // integer logits: many ties
    for (float& v : ints) v = float(rng() % 5);
    CheckSample(gpu_.get(), cpu_.get(), ints, Up(ints));
    const auto logits = Random(static_cast<size_t>(vocab), 9, 3.0f);
    CheckSample(gpu_.get(), cpu_.get(), logits, Up(logits));
  }
  std::vector<float> nan(300, 0.0f);
  nan[217] = NAN;
  int32_t token = 0;
  EXPECT_EQ(gpu_->Sample({Up(nan), 300, 1.0, 1.0, 0.5, &token}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu_->Sample({Up(nan), 300, 0.0, 1.0, 0.5, &token}).code(), absl::StatusCode::kInvalidArgument);
}

// Qwen3's vocabulary size (kept out of the sanitizer runs: the reference is slow at this size).
TEST_F(CudaParityTest, SampleLargeVocabulary) {
  const auto logits = Random(151936, 10, 3.0f);
  CheckSample(gpu_.get(), cpu_.get(), logits, Up(logits));
}

}  // namespace
}  // namespace mneme::kernels
