#include "tips/train/device.h"

#include "tips/core/error.h"

namespace tips::train {

torch::Device visible_device() {
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

torch::Device resolve_device(DeviceChoice choice, const torch::Device& available) {
  switch (choice) {
    case DeviceChoice::kCpu: return torch::kCPU;
    case DeviceChoice::kCuda:
      if (!available.is_cuda())
        throw ConfigError("train.device: cuda requested but no CUDA device is visible",
                          "use train.device=cpu (or auto), or run on a GPU machine with a CUDA LibTorch");
      return available;
    case DeviceChoice::kAuto: return available;
  }
  return available;
}

}  // namespace tips::train
