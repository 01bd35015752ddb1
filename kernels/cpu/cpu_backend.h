// The CPU backend: the reference implementation of every op in kernels/ops.h. fp32 math,
// GEMMs through CBLAS (OpenBLAS), everything else plain loops that the compiler vectorises.
#ifndef MNEME_KERNELS_CPU_CPU_BACKEND_H_
#define MNEME_KERNELS_CPU_CPU_BACKEND_H_

#include <memory>

#include "kernels/ops.h"

namespace mneme::kernels {

std::unique_ptr<Backend> NewCpuBackend();

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_CPU_CPU_BACKEND_H_
