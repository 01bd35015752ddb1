// Parity harness: every op runs the same random cases on the CPU reference and on the CUDA
// backend. Sizes include 1, primes and non-powers of two; device outputs are poisoned with NaN
// first, so an element the kernel fails to write shows up; tolerances are per op (fp32 both
// sides, different summation orders). Skips, saying so, on a machine without a CUDA device.
#include "kernels/cuda/cuda_backend.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <numeric>

#include "common/half.h"
#include "gtest/gtest.h"
#include "kernels/cuda/parity_fixture.h"
#include "kernels/test_util.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_probe.h"
#include "kernels/cuda/launch.h"

namespace mneme::kernels {
namespace {

TEST_F(CudaParityTest, MatMul) {
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {1, 29, 64}, {7, 13, 5}, {33, 17, 64}, {3, 100, 37},
                         {127, 1031, 257}, {1, 4096, 2560}}) {
    for (bool acc : {false, true}) {
      auto x = Random(size_t(m) * k, 1), w = Random(size_t(n) * k, 2), y0 = Random(size_t(m) * n, 3);
      std::vector<float> want = y0;
      ASSERT_TRUE(cpu_->MatMul({x.data(), w.data(), want.data(), m, n, k, 0, acc}).ok());
      float* y = acc ? Up(y0) : Poisoned(y0.size());
      ASSERT_TRUE(gpu_->MatMul({Up(x), Up(w), y, m, n, k, 0, acc}).ok());
      EXPECT_LT(RelErr(Down(y, y0.size()), want), 2e-5) << m << "x" << n << "x" << k << " acc=" << acc;
    }
  }
  // A strided output (ldy > n) leaves the gap columns untouched.
  const int m = 5, n = 7, k = 11, ldy = 10;
  auto x = Random(m * k, 4), w = Random(n * k, 5);
  std::vector<float> want(m * ldy, 3.0f);
  ASSERT_TRUE(cpu_->MatMul({x.data(), w.data(), want.data(), m, n, k, ldy}).ok());
  float* y = Up(std::vector<float>(m * ldy, 3.0f));
  ASSERT_TRUE(gpu_->MatMul({Up(x), Up(w), y, m, n, k, ldy}).ok());
  EXPECT_LT(RelErr(Down(y, m * ldy), want), 2e-5);
}

// bf16 weights: the GPU rounds x to bf16 and multiplies on tensor cores (or, for up to 8 rows
// with k % 8 == 0, the decode GEMV) with fp32 accumulation;
// the CPU reference gets the same bf16 values as fp32, so only the summation order differs.
TEST_F(CudaParityTest, MatMulBf16Weights) {
  ASSERT_TRUE(gpu_->supports_bf16_weights());
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {1, 4096, 2560}, {7, 13, 5}, {129, 1031, 264}, {512, 2048, 2560},
                         {2, 1031, 264}, {3, 7, 8}, {8, 2048, 9728}, {5, 151, 2560}, {9, 100, 64}}) {
    for (bool acc : {false, true}) {
      auto x = Random(size_t(m) * k, 31), w = Random(size_t(n) * k, 32), y0 = Random(size_t(m) * n, 33);
      std::vector<uint16_t> w16(w.size());
      for (size_t i = 0; i < w.size(); ++i) w[i] = Bf16ToFloat(w16[i] = FloatToBf16(w[i]));
      std::vector<float> xr(x.size());
      for (size_t i = 0; i < x.size(); ++i) xr[i] = Bf16ToFloat(FloatToBf16(x[i]));
      std::vector<float> want = y0;
      ASSERT_TRUE(cpu_->MatMul({xr.data(), w.data(), want.data(), m, n, k, 0, acc}).ok());
      float* y = acc ? Up(y0) : Poisoned(y0.size());
      ASSERT_TRUE(gpu_->MatMul({Up(x), Up(w16), y, m, n, k, 0, acc, DType::kBf16}).ok());
      EXPECT_LT(RelErr(Down(y, y0.size()), want), 2e-5) << m << "x" << n << "x" << k << " acc=" << acc;
    }
  }
  // The decode GEMV with a strided, accumulated output (the residual add): gap columns untouched.
  {
    const int m = 3, n = 7, k = 16, ldy = 10;
    auto x = Random(m * k, 34), w = Random(n * k, 35);
    std::vector<uint16_t> w16(w.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = Bf16ToFloat(w16[i] = FloatToBf16(w[i]));
    for (float& v : x) v = Bf16ToFloat(FloatToBf16(v));
    std::vector<float> want(m * ldy, 3.0f);
    ASSERT_TRUE(cpu_->MatMul({x.data(), w.data(), want.data(), m, n, k, ldy, true}).ok());
    float* y = Up(std::vector<float>(m * ldy, 3.0f));
    ASSERT_TRUE(gpu_->MatMul({Up(x), Up(w16), y, m, n, k, ldy, true, DType::kBf16}).ok());
    EXPECT_LT(RelErr(Down(y, m * ldy), want), 2e-5);
  }
  std::vector<float> a(4, 1.0f);
  EXPECT_EQ(cpu_->MatMul({a.data(), a.data(), a.data(), 2, 2, 1, 0, false, DType::kBf16}).code(),
            absl::StatusCode::kUnimplemented);  // the CPU reference is fp32 only
}

TEST_F(CudaParityTest, RmsNormIncludingInPlace) {
  for (auto [rows, dim] : {std::pair{1, 1}, {5, 37}, {3, 2560}, {129, 128}, {2, 5120}}) {
    auto x = Random(size_t(rows) * dim, 6, 3.0f), w = Random(dim, 7);
    std::vector<float> want(x.size());
    ASSERT_TRUE(cpu_->RmsNorm({x.data(), w.data(), want.data(), rows, dim, 1e-6f}).ok());
    float* dx = Up(x);
    float* dw = Up(w);
    float* y = Poisoned(x.size());
    ASSERT_TRUE(gpu_->RmsNorm({dx, dw, y, rows, dim, 1e-6f}).ok());
    EXPECT_LT(RelErr(Down(y, x.size()), want), 2e-6) << rows << "x" << dim;
    ASSERT_TRUE(gpu_->RmsNorm({dx, dw, dx, rows, dim, 1e-6f}).ok());
    EXPECT_LT(RelErr(Down(dx, x.size()), want), 2e-6) << "in place " << rows << "x" << dim;
  }
}

TEST_F(CudaParityTest, Rope) {
  for (auto [tokens, heads, d] : {std::tuple{1, 1, 2}, {3, 2, 10}, {17, 8, 128}, {5, 3, 64}}) {
    auto x = Random(size_t(tokens) * heads * d, 8);
    std::vector<int32_t> pos(tokens);
    for (int t = 0; t < tokens; ++t) pos[t] = t * 977 + 3;  // far positions stress the angles
    std::vector<float> want = x;
    ASSERT_TRUE(cpu_->Rope({want.data(), pos.data(), tokens, heads, d, 1000000.0}).ok());
    float* dx = Up(x);
    ASSERT_TRUE(gpu_->Rope({dx, pos.data(), tokens, heads, d, 1000000.0}).ok());
    EXPECT_LT(RelErr(Down(dx, x.size()), want), 1e-5) << tokens << "x" << heads << "x" << d;
  }
}

TEST_F(CudaParityTest, AttentionCausalBidirectionalAndGqa) {
  for (const AttentionCase c : {AttentionCase{1, 1, 0, 1, 1, 16, true}, AttentionCase{7, 7, 0, 4, 2, 16, true},
                                AttentionCase{5, 12, 7, 6, 2, 64, true}, AttentionCase{5, 12, 7, 6, 2, 64, false},
                                AttentionCase{1, 1031, 1030, 32, 8, 128, true}, AttentionCase{67, 67, 0, 4, 1, 128, true},
                                AttentionCase{3, 40, 20, 2, 2, 200, false}}) {
    CheckAttention(c, /*allow_bf16=*/false, 1e-5);
  }
}

// Decode shapes (one or a few query rows over many keys) take the split-K path: partial
// attentions per key range, merged by log-sum-exp. Output and the row log-sum-exp both match.
TEST_F(CudaParityTest, SplitKDecodeAndLogSumExp) {
  for (const AttentionCase c : {AttentionCase{1, 256, 255, 32, 8, 128, true}, AttentionCase{1, 5003, 5002, 32, 8, 128, true},
                                AttentionCase{2, 2053, 2051, 16, 4, 64, true}, AttentionCase{3, 997, 994, 8, 8, 128, false},
                                AttentionCase{1, 40000, 39999, 4, 1, 128, true}, AttentionCase{9, 9, 0, 4, 2, 32, true}}) {
    CheckAttention(c, /*allow_bf16=*/false, 1e-5, /*with_lse=*/true);
  }
}

// allow_bf16 lets a whole causal block from row 0 (document encoding, head_dim 128) run on the
// bf16 tensor-core kernel: within bf16 tolerance of the fp32 reference. Blocks it does not cover
// (a continuation with q_offset > 0) keep the exact fp32 kernel.
TEST_F(CudaParityTest, AttentionAllowBf16) {
  for (int n : {1, 63, 130, 1000}) CheckAttention({n, n, 0, 32, 8, 128, true}, /*allow_bf16=*/true, 1e-2);
  CheckAttention({40, 100, 60, 32, 8, 128, true}, /*allow_bf16=*/true, 1e-5);
}

// Packed sequences (several documents per encoding forward): each attends only to itself. With
// allow_bf16 the packed tensor-core kernel runs (bf16 tolerance); without, the fp32 kernel runs
// per sequence (with the log-sum-exp, exact to fp32 rounding). The CPU side is checked against
// attention over each sequence alone in reference_ops_test.cc.
TEST_F(CudaParityTest, PackedSequencesAttendOnlyToThemselves) {
  const std::vector<int32_t> starts = {0, 1, 71, 200, 205, 845};
  const int t = starts.back(), heads = 32, kv_heads = 8, d = 128;
  CheckAttention({t, t, 0, heads, kv_heads, d, true}, /*allow_bf16=*/true, 1e-2, /*with_lse=*/false, starts);
  CheckAttention({t, t, 0, heads, kv_heads, d, true}, /*allow_bf16=*/false, 1e-5, /*with_lse=*/true, starts);
}

TEST_F(CudaParityTest, SwiGluAndEmbedding) {
  for (auto [tokens, inter] : {std::pair{1, 1}, {3, 5}, {31, 9728}}) {
    auto gu = Random(size_t(tokens) * 2 * inter, 12, 3.0f);
    std::vector<float> want(size_t(tokens) * inter);
    ASSERT_TRUE(cpu_->SwiGlu({gu.data(), want.data(), tokens, inter}).ok());
    float* out = Poisoned(want.size());
    ASSERT_TRUE(gpu_->SwiGlu({Up(gu), out, tokens, inter}).ok());
    EXPECT_LT(RelErr(Down(out, want.size()), want), 2e-6);
  }
  const int vocab = 1009, dim = 37;
  auto table = Random(size_t(vocab) * dim, 13);
  std::vector<int32_t> ids = {1008, 0, 5, 5, 1008, 17, 3};
  std::vector<float> want(ids.size() * dim);
  ASSERT_TRUE(cpu_->Embedding({table.data(), ids.data(), want.data(), int64_t(ids.size()), vocab, dim}).ok());
  float* out = Poisoned(want.size());
  float* dt = Up(table);
  ASSERT_TRUE(gpu_->Embedding({dt, ids.data(), out, int64_t(ids.size()), vocab, dim}).ok());
  EXPECT_EQ(Down(out, want.size()), want);  // a gather: exact
  ids[2] = vocab;
  EXPECT_EQ(gpu_->Embedding({dt, ids.data(), out, int64_t(ids.size()), vocab, dim}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaParityTest, RouteScores) {
  struct Case { int t, width, chunks, docs; };
  for (const Case c : {Case{1, 16, 1, 1}, Case{3, 24, 5000, 37}, Case{64, 1024, 20011, 2503},
                       Case{7, 100, 97, 13}}) {
    auto q = Random(size_t(c.t) * c.width, 14), keys = Random(size_t(c.chunks) * c.width, 15);
    std::vector<int32_t> chunk_doc(c.chunks);
    // Uneven documents; the last document has no chunk and must score -inf.
    for (int i = 0; i < c.chunks; ++i) chunk_doc[i] = c.docs == 1 ? 0 : (i * 7 / 11 + i % 3) % (c.docs - 1);
    const int docs = c.docs == 1 ? 1 : c.docs;
    std::vector<float> want(docs);
    ASSERT_TRUE(cpu_->RouteScores({q.data(), keys.data(), chunk_doc.data(), want.data(), c.t, c.chunks,
                                   c.width, docs}).ok());
    float* got = Poisoned(docs);
    ASSERT_TRUE(gpu_->RouteScores({Up(q), Up(keys), Up(chunk_doc), got, c.t, c.chunks, c.width, docs}).ok());
    const std::vector<float> g = Down(got, docs);
    EXPECT_LT(RelErr(g, want), 1e-5) << c.t << "x" << c.width << ", " << c.chunks << " chunks";
    if (c.docs > 1) {
      EXPECT_EQ(g[docs - 1], -INFINITY);
    }
  }
}

// The tensor-core scan over bf16 keys against the CPU reference on the same bf16 values (fp32
// accumulation on both sides), with documents as contiguous chunk runs (as MemoryIndex lays them
// out, runs crossing tile edges) and as scattered chunks.
TEST_F(CudaParityTest, RouteBf16MatchesCpuReference) {
  struct Case { int t, width; int64_t chunks; int docs; bool contiguous; };
  int sms = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  for (const Case c : {Case{1, 64, 1, 1, true}, Case{64, 1024, 20011, 2503, true},
                       Case{7, 128, 1000, 100, false}, Case{33, 512, 129, 5, true},
                       Case{64, 1024, 100003, 12501, true}}) {
    std::vector<uint16_t> qb(size_t(c.t) * c.width), kb(size_t(c.chunks) * c.width);
    std::vector<float> qf(qb.size()), kf(kb.size());
    std::mt19937 rng(17);
    std::normal_distribution<float> g;
    for (size_t i = 0; i < qb.size(); ++i) qf[i] = Bf16ToFloat(qb[i] = FloatToBf16(g(rng)));
    for (size_t i = 0; i < kb.size(); ++i) kf[i] = Bf16ToFloat(kb[i] = FloatToBf16(g(rng)));
    std::vector<int32_t> chunk_doc(c.chunks);
    for (int64_t i = 0; i < c.chunks; ++i) {
      chunk_doc[i] = c.contiguous ? int32_t(i * c.docs / c.chunks) : int32_t(rng() % c.docs);
    }
    std::vector<float> want(c.docs);
    ASSERT_TRUE(cpu_->RouteScores({qf.data(), kf.data(), chunk_doc.data(), want.data(), c.t, c.chunks,
                                   c.width, c.docs}).ok());
    float* got = Poisoned(c.docs);
    const uint16_t* dq = Up(qb);
    const uint16_t* dk = Up(kb);
    const int32_t* dd = Up(chunk_doc);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    ASSERT_EQ(cuda::LaunchRouteBf16(dq, dk, dd, got, c.t, c.chunks, c.width, c.docs, sms, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(RelErr(Down(got, c.docs), want), 1e-5)
        << c.t << " tokens, width " << c.width << ", " << c.chunks << " chunks";
  }
  EXPECT_EQ(cuda::LaunchRouteBf16(nullptr, nullptr, nullptr, nullptr, 65, 1, 1024, 1, sms, nullptr),
            cudaErrorInvalidValue);  // more than 64 tokens
}

// RouteTopK on the GPU equals the CPU reference exactly: integer-valued q and keys make every
// dot product exact in fp32 on both sides, so scores, order and the tie rule must all agree.
// Cases cover questions longer than 64 tokens (several scan passes), dead documents, documents
// without chunks and fewer qualifying documents than k.
TEST_F(CudaParityTest, RouteTopKEqualsCpuReferenceExactly) {
  struct Case { int t, width; int64_t chunks; int docs, k; int dead_every; };
  for (const Case c : {Case{1, 64, 1, 1, 16, 0}, Case{5, 128, 3000, 400, 16, 3}, Case{130, 1024, 20000, 2500, 16, 7},
                       Case{64, 256, 40, 12, 16, 2}, Case{9, 512, 50000, 6000, 100, 5}}) {
    std::mt19937 rng(uint32_t(c.chunks + c.t));
    std::vector<float> q(size_t(c.t) * c.width);
    for (float& x : q) x = float(int(rng() % 5) - 2);
    std::vector<uint16_t> keys(size_t(c.chunks) * c.width);
    for (uint16_t& x : keys) x = FloatToBf16(float(int(rng() % 7) - 3));
    std::vector<int32_t> chunk_doc(c.chunks);
    // Contiguous runs over the first docs-1 documents; the last document has no chunk.
    for (int64_t i = 0; i < c.chunks; ++i) chunk_doc[i] = c.docs == 1 ? 0 : int32_t(i * (c.docs - 1) / c.chunks);
    std::vector<uint8_t> dead(c.docs, 0);
    if (c.dead_every > 0) {
      for (int d = 0; d < c.docs; d += c.dead_every) dead[d] = 1;
    }
    auto run = [&](Backend* be, const float* dq, const uint16_t* dk, const int32_t* dd, const uint8_t* ddead,
                   std::vector<int32_t>* ids, std::vector<float>* scores) {
      ids->assign(c.k, -7);
      scores->assign(c.k, 0.0f);
      int selected = -1;
      RouteTopKParams p;
      p.q = dq;
      p.keys = dk;
      p.chunk_doc = dd;
      p.dead = ddead;
      p.q_tokens = c.t;
      p.chunks = c.chunks;
      p.width = c.width;
      p.num_docs = c.docs;
      p.top_k = c.k;
      p.out_docs = ids->data();
      p.out_scores = scores->data();
      p.selected = &selected;
      EXPECT_TRUE(be->RouteTopK(p).ok());
      ids->resize(std::max(selected, 0));
      scores->resize(std::max(selected, 0));
    };
    std::vector<int32_t> want_ids, got_ids;
    std::vector<float> want_s, got_s;
    run(cpu_.get(), q.data(), keys.data(), chunk_doc.data(), dead.data(), &want_ids, &want_s);
    run(gpu_.get(), Up(q), Up(keys), Up(chunk_doc), Up(dead), &got_ids, &got_s);
    EXPECT_EQ(got_ids, want_ids) << c.t << " tokens, width " << c.width << ", " << c.chunks << " chunks";
    EXPECT_EQ(got_s, want_s);
    if (c.docs == 12) {
      EXPECT_LT(int(want_ids.size()), c.k);  // fewer qualifying documents than k
    }
  }
  // Shapes the kernel lacks are Unimplemented, so callers fall back to RouteScores.
  std::vector<float> q(32, 1.0f);
  std::vector<uint16_t> keys(32, 0);
  std::vector<int32_t> cd = {0};
  int32_t id = 0;
  float sc = 0;
  int sel = 0;
  RouteTopKParams p;
  p.q = Up(q);
  p.keys = Up(keys);
  p.chunk_doc = Up(cd);
  p.q_tokens = 1;
  p.chunks = 1;
  p.width = 32;
  p.num_docs = 1;
  p.top_k = 1;
  p.out_docs = &id;
  p.out_scores = &sc;
  p.selected = &sel;
  EXPECT_EQ(gpu_->RouteTopK(p).code(), absl::StatusCode::kUnimplemented);
}

// GPU top-k equals a host sort with the same rule (higher first, ties to the lower index), on
// data full of ties, over one and several passes, and with fewer elements than k.
TEST_F(CudaParityTest, TopKEqualsHostSortWithTieRule) {
  for (auto [n, k] : {std::pair<int64_t, int>{5, 16}, {10007, 16}, {10007, 100}, {1000000, 16},
                      {1000000, 100}, {4096, 1024}}) {
    std::mt19937 rng(uint32_t(n + k));
    std::vector<float> s(n);
    for (float& x : s) x = float(rng() % 50) - 25.0f;  // heavy ties
    s[n / 2] = std::numeric_limits<float>::quiet_NaN();  // counts as -inf
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto key = [&](int32_t i) { return std::isnan(s[i]) ? -INFINITY : s[i]; };
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return key(a) > key(b); });
    float* ds = Up(s);
    float* out_s = Poisoned(k);
    int32_t* out_i = Up(std::vector<int32_t>(k, -1));
    auto ws = gpu_->Allocate(cuda::TopKWorkspaceBytes(n, k));
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    ASSERT_EQ(cuda::LaunchTopK(ds, n, k, out_s, out_i, (*ws)->data(), nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<int32_t> got_i(k);
    ASSERT_TRUE(gpu_->CopyToHost(got_i.data(), out_i, k * sizeof(int32_t)).ok());
    const std::vector<float> got_s = Down(out_s, k);
    for (int r = 0; r < k; ++r) {
      if (r < n) {
        EXPECT_EQ(got_i[r], order[r]) << "rank " << r << " of n=" << n << " k=" << k;
        EXPECT_EQ(got_s[r], key(order[r]));
      } else {
        EXPECT_EQ(got_i[r], INT_MAX);
        EXPECT_EQ(got_s[r], -INFINITY);
      }
    }
  }
}

// Packed causal attention (document encoding) against the CPU reference run document by document
// on the same bf16 values. P and the output are rounded to bf16 on the GPU, so the tolerance is
// a few bf16 steps of the largest output.
TEST_F(CudaParityTest, VarlenAttentionMatchesCpuPerDocument) {
  const int heads = 8, kv_heads = 2, d = 128;
  const std::vector<int32_t> lens = {1, 63, 64, 65, 7, 200, 1000, 129};
  std::vector<int32_t> cu = {0};
  for (int32_t n : lens) cu.push_back(cu.back() + n);
  const int64_t total = cu.back();
  std::mt19937 rng(21);
  std::normal_distribution<float> gauss;
  auto bf16_tensor = [&](int64_t n, std::vector<uint16_t>* bits, std::vector<float>* vals) {
    bits->resize(n);
    vals->resize(n);
    for (int64_t i = 0; i < n; ++i) (*vals)[i] = Bf16ToFloat((*bits)[i] = FloatToBf16(gauss(rng)));
  };
  std::vector<uint16_t> qb, kb, vb;
  std::vector<float> qf, kf, vf;
  bf16_tensor(total * heads * d, &qb, &qf);
  bf16_tensor(total * kv_heads * d, &kb, &kf);
  bf16_tensor(total * kv_heads * d, &vb, &vf);
  std::vector<float> want(total * heads * d);
  const float scale = 1.0f / std::sqrt(float(d));
  for (size_t i = 0; i < lens.size(); ++i) {
    const int64_t at = cu[i];
    AttentionParams p{qf.data() + at * heads * d, kf.data() + at * kv_heads * d, vf.data() + at * kv_heads * d,
                      want.data() + at * heads * d, lens[i], lens[i], 0, heads, kv_heads, d, scale, true};
    ASSERT_TRUE(cpu_->Attention(p).ok());
  }
  const int n_tiles = cuda::BuildVarlenTiles(cu.data(), int(lens.size()), nullptr);
  std::vector<int32_t> tiles(2 * n_tiles);
  ASSERT_EQ(cuda::BuildVarlenTiles(cu.data(), int(lens.size()), tiles.data()), n_tiles);
  // Out poisoned with bf16 NaN (0x7fc0) so an unwritten row shows.
  uint16_t* out = Up(std::vector<uint16_t>(total * heads * d, 0x7fc0));
  const uint16_t* dq = Up(qb);
  const uint16_t* dk = Up(kb);
  const uint16_t* dv = Up(vb);
  const int32_t* dcu = Up(cu);
  const int32_t* dt = Up(tiles);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  ASSERT_EQ(cuda::LaunchVarlenAttention(dq, dk, dv, out, dcu, dt, n_tiles, heads, kv_heads, d, scale, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint16_t> got_bits(want.size());
  ASSERT_TRUE(gpu_->CopyToHost(got_bits.data(), out, got_bits.size() * 2).ok());
  std::vector<float> got(want.size());
  for (size_t i = 0; i < got.size(); ++i) got[i] = Bf16ToFloat(got_bits[i]);
  EXPECT_LT(RelErr(got, want), 1e-2);
  EXPECT_EQ(cuda::LaunchVarlenAttention(dq, dk, dv, out, dcu, dt, n_tiles, heads, kv_heads, 64, scale, nullptr),
            cudaErrorInvalidValue);  // only head_dim 128 is built
}

TEST_F(CudaParityTest, AllocationFailureIsResourceExhausted) {
  auto m = gpu_->Allocate(size_t{1} << 50);  // 1 PiB
  EXPECT_EQ(m.status().code(), absl::StatusCode::kResourceExhausted);
  // The backend stays usable afterwards.
  float* y = Poisoned(4);
  auto x = Random(4, 16);
  ASSERT_TRUE(gpu_->SwiGlu({Up(x), y, 2, 1}).ok());
  EXPECT_TRUE(gpu_->Synchronize().ok());
}

}  // namespace
}  // namespace mneme::kernels
