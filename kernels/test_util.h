// Helpers shared by the op tests (cpu/ and cuda/) and the engine's per-backend tests.
// Test-only: included from *_test.cc files.
#ifndef MNEME_KERNELS_TEST_UTIL_H_
#define MNEME_KERNELS_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/ops.h"

namespace mneme::kernels {

// n normal(0, scale) values, reproducible from `seed`.
inline std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// For tests parameterised over backends by name ("cpu", "cuda"): the backend, or null with
// `*skip_reason` set when the name is "cuda" and this machine or build has no GPU (the caller
// skips, saying why). Any other failure, a GPU present but unusable included, is an error.
inline absl::StatusOr<std::unique_ptr<Backend>> BackendForTest(const std::string& name,
                                                               std::string* skip_reason) {
  auto kind = ParseBackendKind(name);
  if (!kind.ok()) return kind.status();
  if (*kind == BackendKind::kCuda && !CudaAvailable(skip_reason)) return std::unique_ptr<Backend>();
  return CreateBackend(*kind);
}

// The CPU backend presented as if its memory were not host-addressable (like a GPU's), so the
// mirror's upload path (incremental sync, growth, identity change) runs on a machine without a
// GPU. Memory is still host memory underneath, which is what lets the test read it.
class OpaqueCpuBackend final : public Backend {
 public:
  std::string name() const override { return "opaque-cpu"; }
  bool host_addressable() const override { return false; }
  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t b) override {
    ++allocations;
    return cpu_->Allocate(b);
  }
  absl::Status CopyToDevice(void* d, const void* s, size_t b) override {
    uploaded += b;
    return cpu_->CopyToDevice(d, s, b);
  }
  absl::StatusOr<std::unique_ptr<DeviceMemory>> AllocateHost(size_t b) override { return cpu_->AllocateHost(b); }
  absl::Status CopyToDeviceAsync(void* d, const void* s, size_t b) override {
    uploaded += b;
    return cpu_->CopyToDeviceAsync(d, s, b);
  }
  absl::Status CopyToHost(void* d, const void* s, size_t b) override { return cpu_->CopyToHost(d, s, b); }
  absl::Status CopyOnDevice(void* d, const void* s, size_t b) override { return cpu_->CopyOnDevice(d, s, b); }
  absl::Status Synchronize() override { return absl::OkStatus(); }
  absl::Status MatMul(const MatMulParams& p) override { return cpu_->MatMul(p); }
  absl::Status RmsNorm(const RmsNormParams& p) override { return cpu_->RmsNorm(p); }
  absl::Status Rope(const RopeParams& p) override { return cpu_->Rope(p); }
  absl::Status Attention(const AttentionParams& p) override { return cpu_->Attention(p); }
  absl::Status SwiGlu(const SwiGluParams& p) override { return cpu_->SwiGlu(p); }
  absl::Status Embedding(const EmbeddingParams& p) override { return cpu_->Embedding(p); }
  absl::Status RouteScores(const RouteScoresParams& p) override { return cpu_->RouteScores(p); }
  absl::Status RouteTopK(const RouteTopKParams& p) override { return cpu_->RouteTopK(p); }
  absl::Status AttentionMerge(const AttentionMergeParams& p) override { return cpu_->AttentionMerge(p); }
  absl::Status ChunkPool(const ChunkPoolParams& p) override { return cpu_->ChunkPool(p); }
  absl::Status Quantize(const QuantizeParams& p) override { return cpu_->Quantize(p); }
  absl::Status Dequantize(const DequantizeParams& p) override { return cpu_->Dequantize(p); }
  absl::Status Sample(const SampleParams& p) override { return cpu_->Sample(p); }
  size_t uploaded = 0;
  int allocations = 0;

 private:
  std::unique_ptr<Backend> cpu_ = NewCpuBackend();
};

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_TEST_UTIL_H_
