// cuBLASLt, loaded at run time (dlopen of libcublasLt.so.<major>) rather than linked: the library
// is about half a gigabyte, and every mneme process (CLI, tests, crash-test children) would pay
// for mapping it even on machines without a GPU. Only the CUDA backend loads it, once.
//
// CublasLtGemm computes the ops.h MatMul contract, y[m, n] = x[m, k] · w[n, k]^T (+ y), with
// fp32 accumulation (CUBLAS_COMPUTE_32F, no TF32) and fp32 y, on fp32 or bf16 inputs (x and w of
// the same type), caching one plan per (shape, type).
#ifndef MNEME_KERNELS_CUDA_CUBLASLT_H_
#define MNEME_KERNELS_CUDA_CUBLASLT_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/statusor.h"

namespace mneme::kernels::cuda {

struct CublasLtApi;  // the resolved entry points (cublaslt.cc)

class CublasLtGemm {
 public:
  // Loads the library and creates a handle and a workspace of `workspace_bytes` device memory.
  // Unavailable when the library cannot be loaded (message names the file and dlerror()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CublasLtGemm>> Create(size_t workspace_bytes);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  // REQUIRES: pointers in device memory, shapes validated (ops.h Validate(MatMulParams)).
  // bf16 = false: x and w fp32; true: x and w bf16.
  [[nodiscard]] absl::Status Run(const void* x, const void* w, float* y, int64_t m, int64_t n,
                                 int64_t k, int64_t ldy, bool accumulate, bool bf16,
                                 cudaStream_t stream);

 private:
  struct Plan;
  CublasLtGemm() = default;
  absl::StatusOr<const Plan*> GetPlan(int64_t m, int64_t n, int64_t k, int64_t ldy, bool bf16);

  const CublasLtApi* api_ = nullptr;
  void* handle_ = nullptr;  // cublasLtHandle_t
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, bool>, std::unique_ptr<Plan>> plans_;
};

}  // namespace mneme::kernels::cuda

#endif  // MNEME_KERNELS_CUDA_CUBLASLT_H_
