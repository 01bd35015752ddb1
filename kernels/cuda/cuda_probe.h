// A minimal CUDA runtime probe, compiled by nvcc whenever MNEME_WITH_CUDA is on so CI catches
// CUDA compile errors without a GPU. Plain C++ types only: no absl in .cu translation units.
#ifndef MNEME_KERNELS_CUDA_CUDA_PROBE_H_
#define MNEME_KERNELS_CUDA_CUDA_PROBE_H_

#include <string>

namespace mneme::kernels::cuda {

// Number of usable CUDA devices; 0 with `*error` set when the driver or device is missing.
int DeviceCount(std::string* error);

// The PCI bus id of `device` ("0000:60:00.0"), which tells GPUs apart across processes that see
// different device orderings; empty with `*error` set when it cannot be read.
std::string PciBusId(int device, std::string* error);

// Runs a tiny kernel on device 0 (writes i*scale into n floats, reads back, checks).
// Returns true on success; false with `*error` describing the failure.
bool SelfTest(int n, float scale, std::string* error);

}  // namespace mneme::kernels::cuda

#endif  // MNEME_KERNELS_CUDA_CUDA_PROBE_H_
