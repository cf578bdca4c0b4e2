// tips/dist/data_parallel.h - data parallelism by hand: the same weights on every rank at the start, and
// gradients averaged over ranks after each backward, in flat buckets of DistConfig::bucket_mb.
// Not a module wrapper: the trainer calls broadcast_module() once and GradSync::all_reduce_mean() after
// backward (and before clipping / the optimizer step). Synchronisation runs after backward, not overlapped
// with it: 1.13 has no post-accumulate-grad hooks, and pre-accumulate hooks would race with gradient
// accumulation; all buckets are launched together and then waited, so NCCL still pipelines them.
//
// Example:
//   tips::dist::broadcast_module(dist, *model, cfg.dist.bucket_mb);
//   tips::dist::GradSync sync(dist, model->parameters(), cfg.dist.bucket_mb);
//   loss.backward();  sync.all_reduce_mean();  optimizer.step();
#pragma once
#include <torch/torch.h>

#include <vector>

#include "tips/dist/context.h"

namespace tips::dist {

// Splits tensors into buckets: each bucket holds indices of one (dtype, device), in input order, with at
// most bucket_bytes of data unless a single tensor is larger (then it is alone). Buckets are ordered by
// their first index. Deterministic, so every rank computes the same plan for the same parameter list.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes);

// Overwrites every parameter and buffer of `module` (recursively) with rank 0's values, bucketed.
// Call once after construction / checkpoint load so that all ranks start identical. No-op single process.
void broadcast_module(const DistContext& dist, torch::nn::Module& module, int64_t bucket_mb);

// Averages .grad of a fixed parameter list over ranks, through persistent flat buffers of bucket_mb MiB.
class GradSync {
 public:
  // Parameters with requires_grad() == false are ignored. The list (order, shapes) must match on every rank.
  GradSync(DistContext dist, const std::vector<torch::Tensor>& params, int64_t bucket_mb);

  // In place: p.grad <- mean over ranks of p.grad for every parameter. A parameter without a gradient on
  // this rank (unused in this step) counts as zeros and gets a defined .grad, so ranks stay in lockstep.
  // No-op on a single process. Throws DistError when a peer dies or stalls past dist.timeout_s.
  void all_reduce_mean();
  // The same, and `rider` (a 1-D tensor of a few values, e.g. the step's logged losses) averaged in place in the
  // same collective: it travels at the end of the last bucket, in that bucket's dtype, so the values cost no
  // collective of their own (on a small host a collective costs about a millisecond whatever its size).
  void all_reduce_mean(torch::Tensor& rider);

  size_t num_buckets() const { return buckets_.size(); }

 private:
  DistContext dist_;
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
  std::vector<torch::Tensor> buffers_;        // one flat buffer per bucket, allocated on first use
};

}  // namespace tips::dist
