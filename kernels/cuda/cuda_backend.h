// The CUDA backend: every ops.h op on an NVIDIA GPU (built for sm_90a), fp32 activations with
// fp32 accumulation, checked op by op against the CPU reference (cuda_backend_test.cc).
#ifndef MNEME_KERNELS_CUDA_CUDA_BACKEND_H_
#define MNEME_KERNELS_CUDA_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace mneme::kernels {

// Creates a backend on CUDA device `device`, with its own stream, a cuBLASLt handle and
// workspace. Unavailable when there is no such device or cuBLASLt cannot be loaded.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(int device = 0);

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_CUDA_CUDA_BACKEND_H_
