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

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_TEST_UTIL_H_
