// tools/eval_hook.h - connects `tips train` to the evaluations of `tips eval` (periodic in-training eval).
#pragma once
#include "tips/train/trainer.h"

namespace tips::cli {

// Installs the configured evaluations as the trainer's eval hook (rank 0). No-op when none are available.
void install_eval_hook(train::Trainer& trainer);

}  // namespace tips::cli
