// CUDA parity of the memory-compression ops, the attention merge and sampling, against the CPU
// reference (kernels/reference/). Pooled means and quantisation codes are bit-identical by
// construction (same operation order, IEEE division, round-to-nearest-even); sampling agrees
// exactly wherever the uniform draw and top_p are not within rounding of a boundary.
#include <cmath>
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

TEST_F(CudaParityTest, SampleMatchesReference) {
  auto sample = [&](Backend* be, const float* logits, int64_t vocab, double t, double top_p, double u) {
    int32_t token = -1;
    const absl::Status s = be->Sample({logits, vocab, t, top_p, u, &token});
    EXPECT_TRUE(s.ok()) << s;
    return token;
  };
  std::mt19937 rng(5);
  for (int64_t vocab : {int64_t{1}, int64_t{2}, int64_t{1031}, int64_t{151936}}) {
    // Greedy, with ties: integer logits repeat, and the lowest id among the maxima must win.
    std::vector<float> ints(static_cast<size_t>(vocab));
    for (float& v : ints) v = float(rng() % 5);
    const float* dints = Up(ints);
    EXPECT_EQ(sample(gpu_.get(), dints, vocab, 0.0, 1.0, 0.5), sample(cpu_.get(), ints.data(), vocab, 0.0, 1.0, 0.5));
    const auto logits = Random(size_t(vocab), 9, 3.0f);
    const float* dlogits = Up(logits);
    EXPECT_EQ(sample(gpu_.get(), dlogits, vocab, 0.0, 1.0, 0.5), sample(cpu_.get(), logits.data(), vocab, 0.0, 1.0, 0.5));
    for (auto [t, top_p] : {std::pair{1.0, 1.0}, {0.7, 0.9}, {1.3, 0.5}, {1.0, 0.01}}) {
      int compared = 0;
      for (int i = 0; i < 200; ++i) {
        const double u = (i + 0.37) / 200;
        // Skip draws within rounding of a boundary (fp32 on the GPU, double on the host).
        const int32_t want = sample(cpu_.get(), logits.data(), vocab, t, top_p, u);
        if (want != sample(cpu_.get(), logits.data(), vocab, t, top_p, u * (1 - 1e-4)) ||
            want != sample(cpu_.get(), logits.data(), vocab, t, top_p, std::min(u * (1 + 1e-4), 0.999999)) ||
            want != sample(cpu_.get(), logits.data(), vocab, t, top_p * (1 - 1e-4), u) ||
            want != sample(cpu_.get(), logits.data(), vocab, t, std::min(1.0, top_p * (1 + 1e-4)), u)) {
          continue;
        }
        ++compared;
        ASSERT_EQ(sample(gpu_.get(), dlogits, vocab, t, top_p, u), want)
            << "vocab " << vocab << " T " << t << " top_p " << top_p << " u " << u;
      }
      EXPECT_GT(compared, 180) << "too many boundary draws: the case checks little";
    }
  }
  std::vector<float> nan(300, 0.0f);
  nan[217] = NAN;
  int32_t token = 0;
  EXPECT_EQ(gpu_->Sample({Up(nan), 300, 1.0, 1.0, 0.5, &token}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu_->Sample({Up(nan), 300, 0.0, 1.0, 0.5, &token}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mneme::kernels
