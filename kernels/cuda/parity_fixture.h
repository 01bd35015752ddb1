// The CUDA parity fixture (test-only): a CPU reference backend and a CUDA backend side by side,
// device copies kept alive for the test, NaN-poisoned outputs and a relative-error measure.
// Skips, saying so, on a machine without a CUDA device.
#ifndef MNEME_KERNELS_CUDA_PARITY_FIXTURE_H_
#define MNEME_KERNELS_CUDA_PARITY_FIXTURE_H_

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_probe.h"
#include "kernels/test_util.h"

namespace mneme::kernels {

// Largest |got - want| over the largest |want|; fails on NaN/inf in `got` (poison left over).
inline double RelErr(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    if (!std::isfinite(got[i]) && std::isfinite(want[i])) {
      ADD_FAILURE() << "non-finite device output at " << i << " (unwritten or NaN)";
      return 1.0;
    }
    if (std::isinf(want[i]) && got[i] == want[i]) continue;
    max_ref = std::max(max_ref, std::abs(double(want[i])));
    max_err = std::max(max_err, std::abs(double(got[i]) - want[i]));
  }
  EXPECT_GT(max_ref, 0.0) << "reference output is all zeros: the case checks nothing";
  return max_err / std::max(max_ref, 1e-30);
}

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    if (cuda::DeviceCount(&error) == 0) {
      GTEST_SKIP() << "no CUDA device (" << error << "); run build/kernels/mneme_kernels_test on a "
                   << "GPU host to check CUDA against the CPU reference (docs/gpu.md)";
    }
    auto be = NewCudaBackend(0);
    ASSERT_TRUE(be.ok()) << be.status();
    gpu_ = std::move(*be);
  }
  // Device copy of `v` (the returned memory stays alive with the test).
  template <typename T>
  T* Up(const std::vector<T>& v) {
    auto m = gpu_->Allocate(v.size() * sizeof(T));
    EXPECT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(gpu_->CopyToDevice((*m)->data(), v.data(), v.size() * sizeof(T)).ok());
    T* p = static_cast<T*>((*m)->data());
    keep_.push_back(std::move(*m));
    return p;
  }
  // A device buffer of n floats filled with NaN.
  float* Poisoned(size_t n) { return Up(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN())); }
  std::vector<float> Down(const float* d, size_t n) {
    std::vector<float> h(n);
    EXPECT_TRUE(gpu_->Synchronize().ok());
    EXPECT_TRUE(gpu_->CopyToHost(h.data(), d, n * sizeof(float)).ok());
    return h;
  }

  // One attention case on both backends (the CPU reference ignores allow_bf16); non-empty
  // seq_starts packs independent sequences (AttentionParams::seq_starts).
  struct AttentionCase { int q_tokens, kv_len, q_offset, heads, kv_heads, d; bool causal; };
  void CheckAttention(const AttentionCase& c, bool allow_bf16, double tol, bool with_lse = false,
                      const std::vector<int32_t>& seq_starts = {}) {
    auto q = Random(size_t(c.q_tokens) * c.heads * c.d, 9), k = Random(size_t(c.kv_len) * c.kv_heads * c.d, 10),
         v = Random(size_t(c.kv_len) * c.kv_heads * c.d, 11);
    std::vector<float> want(q.size()), want_lse(size_t(c.q_tokens) * c.heads);
    AttentionParams p{q.data(), k.data(), v.data(), want.data(), c.q_tokens, c.kv_len, c.q_offset,
                      c.heads, c.kv_heads, c.d, 1.0f / std::sqrt(float(c.d)), c.causal};
    p.allow_bf16 = allow_bf16;
    p.lse = with_lse ? want_lse.data() : nullptr;
    if (!seq_starts.empty()) {
      p.seq_starts = seq_starts.data();
      p.num_seqs = static_cast<int64_t>(seq_starts.size()) - 1;
    }
    ASSERT_TRUE(cpu_->Attention(p).ok());
    float* out = Poisoned(q.size());
    float* lse = with_lse ? Poisoned(want_lse.size()) : nullptr;
    p.q = Up(q);
    p.k = Up(k);
    p.v = Up(v);
    p.out = out;
    p.lse = lse;
    ASSERT_TRUE(gpu_->Attention(p).ok());
    EXPECT_LT(RelErr(Down(out, q.size()), want), tol)
        << c.q_tokens << " q, " << c.kv_len << " kv, heads " << c.heads << "/" << c.kv_heads << ", d " << c.d
        << (allow_bf16 ? ", bf16 allowed" : "");
    if (with_lse) {
      const std::vector<float> got_lse = Down(lse, want_lse.size());
      for (size_t i = 0; i < got_lse.size(); ++i) {
        ASSERT_NEAR(got_lse[i], want_lse[i], 1e-5 * std::max(1.0f, std::abs(want_lse[i]))) << "lse row " << i;
      }
    }
  }

  std::unique_ptr<Backend> cpu_ = NewCpuBackend();
  std::unique_ptr<Backend> gpu_;
  std::vector<std::unique_ptr<DeviceMemory>> keep_;
};

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_CUDA_PARITY_FIXTURE_H_
