// train::resolve_device: the rule `tips train` and `tips eval` share. Devices are plain values here, so the CUDA
// cases run on a CPU-only machine.
#include <gtest/gtest.h>

#include "tips/core/error.h"
#include "tips/train/device.h"

namespace tips::train {
namespace {

const torch::Device kCpu(torch::kCPU);
const torch::Device kCuda1(torch::kCUDA, 1);

TEST(Device, CpuIsTheCpuWhateverIsVisible) {
  EXPECT_EQ(resolve_device(DeviceChoice::kCpu, kCuda1), kCpu);
  EXPECT_EQ(resolve_device(DeviceChoice::kCpu, kCpu), kCpu);
}

TEST(Device, AutoTakesTheVisibleDevice) {
  EXPECT_EQ(resolve_device(DeviceChoice::kAuto, kCuda1), kCuda1);  // the local rank's GPU, not cuda:0
  EXPECT_EQ(resolve_device(DeviceChoice::kAuto, kCpu), kCpu);
}

TEST(Device, CudaWithoutAGpuIsAConfigErrorWithAHint) {
  EXPECT_EQ(resolve_device(DeviceChoice::kCuda, kCuda1), kCuda1);
  try {
    resolve_device(DeviceChoice::kCuda, kCpu);
    FAIL() << "cuda on a CPU-only process must throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("train.device=cpu"), std::string::npos) << e.hint();
  }
}

TEST(Device, VisibleDeviceMatchesLibTorch) {
  EXPECT_EQ(visible_device().is_cuda(), torch::cuda::is_available());
  if (visible_device().is_cuda()) EXPECT_EQ(visible_device().index(), 0);
}

}  // namespace
}  // namespace tips::train
