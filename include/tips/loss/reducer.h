// tips/loss/reducer.h - the hook through which pure target/centering helpers become distributed-aware.
// The trainer passes a function that returns the SUM of its argument over all ranks (an all-reduce);
// the default (empty function) means a single process.
#pragma once
#include <torch/torch.h>

#include <functional>

namespace tips::loss {

// Returns the elementwise sum of `t` over all ranks (same shape and dtype). Must not modify `t`.
using SumReducer = std::function<torch::Tensor(const torch::Tensor&)>;

// reduce(t) when a reducer is given, else t itself.
inline torch::Tensor global_sum(const SumReducer& reduce, const torch::Tensor& t) { return reduce ? reduce(t) : t; }

}  // namespace tips::loss
