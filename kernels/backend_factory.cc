#include <string>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/ops.h"
#ifdef MNEME_WITH_CUDA
#include "kernels/cuda/cuda_probe.h"
#endif

namespace mneme::kernels {

absl::StatusOr<BackendKind> ParseBackendKind(const std::string& s) {
  if (s == "cpu") return BackendKind::kCpu;
  if (s == "cuda") return BackendKind::kCuda;
  if (s == "auto") return BackendKind::kAuto;
  return absl::InvalidArgumentError("unknown backend '" + s + "'; expected cpu, cuda or auto");
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind) {
  if (kind == BackendKind::kCpu || kind == BackendKind::kAuto) {
    // TODO(#5): kAuto picks the CUDA backend once it implements the op interface.
    return NewCpuBackend();
  }
#ifdef MNEME_WITH_CUDA
  std::string error;
  if (cuda::DeviceCount(&error) == 0) {
    return absl::UnavailableError("--backend cuda: no usable CUDA device (" + error + ")");
  }
  return absl::UnimplementedError(
      "--backend cuda: the CUDA op implementations are not built yet (issue #5); use cpu");
#else
  return absl::UnimplementedError("--backend cuda: this build has no CUDA (MNEME_WITH_CUDA=OFF)");
#endif
}

}  // namespace mneme::kernels
