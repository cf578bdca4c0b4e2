// tips/train/device.h - which device a run uses: `train.device` resolved against what this process can see.
// One rule for `tips train` (the Trainer) and `tips eval`, so that both refuse `cuda` on a CPU-only machine alike.
#pragma once
#include <torch/torch.h>

#include "tips/train/config.h"

namespace tips::train {

// The device this process would use by default: cuda:0 when LibTorch sees a CUDA device, else the CPU.
// (A distributed run passes its own, cuda:<local_rank>, from dist::DistContext instead.)
torch::Device visible_device();

// cpu -> the CPU; auto -> `available`; cuda -> `available` when it is a CUDA device, else a ConfigError that says
// to use train.device=cpu or auto.
torch::Device resolve_device(DeviceChoice choice, const torch::Device& available);

}  // namespace tips::train
