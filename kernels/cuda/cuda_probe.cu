// Kernel: FillKernel writes out[i] = i * scale; one thread per element, 256-thread blocks.
#include <cuda_runtime.h>

#include <vector>

#include "kernels/cuda/cuda_probe.h"

namespace mneme::kernels::cuda {
namespace {

__global__ void FillKernel(float* out, int n, float scale) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<float>(i) * scale;
}

bool Fail(cudaError_t e, const char* what, std::string* error) {
  *error = std::string(what) + ": " + cudaGetErrorString(e);
  return false;
}

}  // namespace

int DeviceCount(std::string* error) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    *error = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    return 0;
  }
  return n;
}

std::string PciBusId(int device, std::string* error) {
  char id[32] = {};
  const cudaError_t e = cudaDeviceGetPCIBusId(id, sizeof(id), device);
  if (e != cudaSuccess) {
    *error = std::string("cudaDeviceGetPCIBusId: ") + cudaGetErrorString(e);
    return std::string();
  }
  return std::string(id);
}

bool SelfTest(int n, float scale, std::string* error) {
  float* d = nullptr;
  cudaError_t e = cudaMalloc(&d, sizeof(float) * static_cast<size_t>(n));
  if (e != cudaSuccess) return Fail(e, "cudaMalloc", error);
  FillKernel<<<(n + 255) / 256, 256>>>(d, n, scale);
  e = cudaGetLastError();
  std::vector<float> h(static_cast<size_t>(n));
  if (e == cudaSuccess) {
    e = cudaMemcpy(h.data(), d, sizeof(float) * h.size(), cudaMemcpyDeviceToHost);
  }
  cudaFree(d);
  if (e != cudaSuccess) return Fail(e, "FillKernel", error);
  for (int i = 0; i < n; ++i) {
    if (h[static_cast<size_t>(i)] != static_cast<float>(i) * scale) {
      *error = "FillKernel wrote a wrong value at index " + std::to_string(i);
      return false;
    }
  }
  return true;
}

}  // namespace mneme::kernels::cuda
