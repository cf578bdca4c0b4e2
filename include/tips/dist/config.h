// tips/dist/config.h - distributed settings (YAML section `dist`). Rank/world come from the environment.
#pragma once
#include <cstdint>

namespace tips::dist {

enum class Backend { kAuto, kGloo, kNccl };

struct DistConfig {
  Backend backend = Backend::kAuto;   // auto: NCCL on CUDA, Gloo on CPU
  double timeout_s = 300.0;           // a collective waiting longer is a dead/stuck rank: error, not hang
  int64_t bucket_mb = 25;             // gradient all-reduce bucket size
};

}  // namespace tips::dist
