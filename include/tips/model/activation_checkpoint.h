// tips/model/activation_checkpoint.h - a transformer block that keeps no activations for backward.
//
// checkpointed_forward(block, x, gen) returns block.forward(x, gen) but stores only x; backward re-runs the block
// (with the drop-path generator state and the CUDA autocast setting of the original call, so the replay draws
// the same masks and uses the same precision) and back-propagates through the replay. Memory per block drops
// from all intermediate activations to one (B, N, D) input, for about one extra block forward in backward.
// Gradients are those of the plain forward (tested: tests/model/activation_checkpoint_test.cpp).
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include "tips/model/block.h"

namespace tips::model {

// Outside grad mode this is exactly block.forward(x, gen). `gen` may be null (no drop path).
torch::Tensor checkpointed_forward(BlockImpl& block, const torch::Tensor& x, at::Generator* gen);

}  // namespace tips::model
