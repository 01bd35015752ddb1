#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"

#include "kernels/cpu/cpu_backend.h"
#include "kernels/device_link.h"
#include "kernels/ops.h"
#ifdef MNEME_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_probe.h"
#endif

namespace mneme::kernels {

absl::StatusOr<BackendKind> ParseBackendKind(const std::string& s) {
  if (s == "cpu") return BackendKind::kCpu;
  if (s == "cuda") return BackendKind::kCuda;
  if (s == "auto") return BackendKind::kAuto;
  return absl::InvalidArgumentError("unknown backend '" + s + "'; expected cpu, cuda or auto");
}

absl::StatusOr<Precision> ParsePrecision(const std::string& s) {
  if (s == "auto") return Precision::kAuto;
  if (s == "fp32") return Precision::kFp32;
  if (s == "bf16") return Precision::kBf16;
  return absl::InvalidArgumentError("unknown precision '" + s + "'; expected auto, fp32 or bf16");
}

bool UsesBf16Weights(Precision precision, const Backend& backend) {
  return precision == Precision::kBf16 || (precision == Precision::kAuto && backend.supports_bf16_weights());
}

bool CudaAvailable(std::string* why) {
#ifdef MNEME_WITH_CUDA
  std::string error;
  if (cuda::DeviceCount(&error) > 0) return true;
  *why = "no CUDA device: " + error;
  return false;
#else
  *why = "this build has no CUDA (MNEME_WITH_CUDA=OFF)";
  return false;
#endif
}

absl::Status EnsureBuffer(Backend* backend, std::unique_ptr<DeviceMemory>* mem, size_t bytes, bool host) {
  const size_t have = *mem ? (*mem)->size_bytes() : 0;
  if (have >= bytes) return absl::OkStatus();
  mem->reset();  // free first: the old contents are not needed
  const size_t grown = std::max({bytes, 2 * have, size_t{4096}});
  absl::StatusOr<std::unique_ptr<DeviceMemory>> got = host ? backend->AllocateHost(grown) : backend->Allocate(grown);
  if (!got.ok()) return got.status();
  *mem = std::move(*got);
  return absl::OkStatus();
}

int CudaDeviceForThisProcess() {
#ifdef MNEME_WITH_CUDA
  std::string error;
  const int count = cuda::DeviceCount(&error);
  if (count <= 0) return -1;
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    if (const char* s = std::getenv(v); s != nullptr && *s != '\0') return std::atoi(s) % count;
  }
  return 0;
#else
  return -1;
#endif
}

std::string DeviceIdentity(int device) {
#ifdef MNEME_WITH_CUDA
  if (device < 0) return "cpu";
  std::string error;
  const std::string bus = cuda::PciBusId(device, &error);
  return bus.empty() ? absl::StrFormat("gpu%d (%s)", device, error) : "gpu@" + bus;
#else
  (void)device;
  return "cpu";
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind) {
  if (kind == BackendKind::kCpu) return NewCpuBackend();
#ifdef MNEME_WITH_CUDA
  std::string error;
  if (cuda::DeviceCount(&error) == 0) {
    if (kind == BackendKind::kAuto) return NewCpuBackend();
    return absl::UnavailableError("--backend cuda: no usable CUDA device (" + error + ")");
  }
  // auto with a GPU present but unusable (e.g. cuBLASLt missing) fails loudly rather than
  // silently running a 100x slower CPU path.
  auto be = NewCudaBackend(std::max(CudaDeviceForThisProcess(), 0));
  if (!be.ok()) {
    return absl::Status(be.status().code(),
                        absl::StrFormat("--backend %s: a GPU is present but the CUDA backend failed: %s",
                                        kind == BackendKind::kAuto ? "auto" : "cuda",
                                        be.status().message()));
  }
  return be;
#else
  if (kind == BackendKind::kAuto) return NewCpuBackend();
  return absl::UnimplementedError("--backend cuda: this build has no CUDA (MNEME_WITH_CUDA=OFF)");
#endif
}

#ifndef MNEME_WITH_CUDA
absl::Status NcclLoadable() { return absl::UnavailableError("this build has no CUDA (MNEME_WITH_CUDA=OFF): no NCCL"); }
absl::StatusOr<std::string> NcclUniqueId() {
  return absl::UnavailableError("this build has no CUDA (MNEME_WITH_CUDA=OFF): no NCCL");
}
absl::StatusOr<std::unique_ptr<DeviceLink>> NewNcclLink(int, int, int, const std::string&) {
  return absl::UnavailableError("this build has no CUDA (MNEME_WITH_CUDA=OFF): no NCCL");
}
#endif

}  // namespace mneme::kernels
