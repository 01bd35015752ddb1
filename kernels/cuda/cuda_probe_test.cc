#include "kernels/cuda/cuda_probe.h"

#include "gtest/gtest.h"

namespace mneme::kernels::cuda {
namespace {

TEST(CudaProbeTest, KernelRunsOnDevice) {
  std::string error;
  if (DeviceCount(&error) == 0) {
    GTEST_SKIP() << "no CUDA device on this machine (" << error
                 << "); run this binary on a GPU host to exercise the kernel";
  }
  ASSERT_TRUE(SelfTest(1000, 0.5f, &error)) << error;
}

}  // namespace
}  // namespace mneme::kernels::cuda
