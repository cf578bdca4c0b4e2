// tips/dist/collectives.h - the collectives the trainer and the teacher state need, on a DistContext.
// Every rank must call the same collectives in the same order with the same shapes. Each wait is bounded by
// DistContext::timeout_s: a dead or stuck peer becomes a DistError on the surviving ranks, never a hang.
// On a single-process context (dist.distributed() == false) every function is a no-op / identity.
// Tensors live on dist.device (NCCL needs CUDA tensors); any dtype for sums, floating dtypes for means.
//
// Example (global InfoNCE, each rank holding B of the W*B pairs):
//   torch::Tensor img_all = tips::dist::all_gather_with_grad(dist, img);    // (B, D) -> (W*B, D)
//   torch::Tensor txt_all = tips::dist::all_gather_with_grad(dist, txt);
//   loss = contrastive_loss(img_all, txt_all);        // the same global loss on every rank
//   loss.backward();  grads.all_reduce_mean();         // == single-process gradient (data_parallel.h)
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "tips/dist/context.h"

namespace tips::dist {

// In place: t <- sum over ranks of t. Any shape/dtype; non-contiguous tensors are handled via a copy.
void all_reduce_sum(const DistContext& dist, torch::Tensor& t);
// In place: t <- (sum over ranks of t) / world_size. Floating dtypes only.
void all_reduce_mean(const DistContext& dist, torch::Tensor& t);
// The same for a list, coalesced into one flat buffer per (dtype, device): one collective, not one per tensor.
void all_reduce_sum(const DistContext& dist, std::vector<torch::Tensor>& ts);
void all_reduce_mean(const DistContext& dist, std::vector<torch::Tensor>& ts);

// In place: t <- src_rank's t on every rank. Shapes and dtypes must match across ranks.
void broadcast(const DistContext& dist, torch::Tensor& t, int src_rank = 0);
// The same for a list, coalesced per (dtype, device).
void broadcast(const DistContext& dist, std::vector<torch::Tensor>& ts, int src_rank = 0);

// Returns once every rank has called barrier() (or throws DistError after timeout_s).
void barrier(const DistContext& dist);

// For work only rank 0 does (evaluation) that may outlast dist.timeout_s: rank 0 calls it when done, the other
// ranks call it and wait - through the TCPStore, not a collective - at most `timeout_s` for rank 0 to arrive.
// `tag` must be unique per call site and step (e.g. "eval/1000"). Throws DistError on timeout. No-op alone.
void wait_for_main(const DistContext& dist, const std::string& tag, double timeout_s);

// (B, ...) on each rank -> (W*B, ...): rank 0's rows first. B and the trailing shape must be equal on
// every rank. No gradient flows through the result (it is detached).
torch::Tensor all_gather(const DistContext& dist, const torch::Tensor& t);

// all_gather that is differentiable ("GatherLayer"): backward all-reduce-sums the incoming (W*B, ...)
// gradient and returns this rank's (B, ...) slice. So when every rank computes a loss L over the gathered
// batch, this rank's input receives sum over ranks of dL_r/dx = W * dL/dx when all L_r are the same
// global loss; averaging parameter gradients over ranks (GradSync) then yields exactly dL/dtheta of the
// single-process computation on the concatenated batch. Every rank must run backward.
torch::Tensor all_gather_with_grad(const DistContext& dist, const torch::Tensor& t);
// The same for several tensors of one dtype in ONE collective (and one in backward): each (R_i, ...) -> (W*R_i, ...).
// Every collective costs a latency (0.5-2 ms for a small Gloo one between 2 local ranks on a 2-core VM, idle or
// not), so a step gathers once.
std::vector<torch::Tensor> all_gather_with_grad(const DistContext& dist, const std::vector<torch::Tensor>& ts);

// A hook for state that needs a cross-rank sum (teacher centering, Sinkhorn-Knopp): calls
// all_reduce_sum(dist, t) in place; a no-op on a single process. Keeps losses free of collectives.
using Reducer = std::function<void(torch::Tensor&)>;
Reducer sum_reducer(const DistContext& dist);

}  // namespace tips::dist
