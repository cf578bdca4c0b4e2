#include "tips/dist/data_parallel.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "flat.h"
#include "process_group.h"
#include "tips/dist/collectives.h"

namespace tips::dist {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr const char* kName = "gradient all_reduce_mean";

}  // namespace

std::vector<std::vector<size_t>> plan_buckets(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  TORCH_CHECK(bucket_bytes > 0, "plan_buckets: bucket_bytes must be > 0, got ", bucket_bytes);
  using Key = std::tuple<int, int, int>;  // dtype, device type, device index
  std::map<Key, std::pair<std::vector<size_t>, int64_t>> open;  // key -> (indices, bytes)
  std::vector<std::vector<size_t>> done;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const Key key{static_cast<int>(t.scalar_type()), static_cast<int>(t.device().type()), t.device().index()};
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    auto& [idx, used] = open[key];
    if (!idx.empty() && used + bytes > bucket_bytes) {
      done.push_back(std::move(idx));
      idx.clear();
      used = 0;
    }
    idx.push_back(i);
    used += bytes;
  }
  for (auto& kv : open) {
    if (!kv.second.first.empty()) done.push_back(std::move(kv.second.first));
  }
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return done;
}

void broadcast_module(const DistContext& dist, torch::nn::Module& module, int64_t bucket_mb) {
  if (!dist.distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> ts = module.parameters(/*recurse=*/true);
  for (const auto& b : module.buffers(/*recurse=*/true)) {
    if (b.defined()) ts.push_back(b);
  }
  for (const auto& bucket : plan_buckets(ts, bucket_mb * kMiB)) {
    std::vector<torch::Tensor> group;
    for (size_t i : bucket) group.push_back(ts[i]);
    broadcast(dist, group, /*src_rank=*/0);  // one collective per bucket (coalesced inside)
  }
}

GradSync::GradSync(DistContext dist, const std::vector<torch::Tensor>& params, int64_t bucket_mb)
    : dist_(std::move(dist)) {
  TORCH_CHECK(bucket_mb >= 1, "GradSync: bucket_mb must be >= 1, got ", bucket_mb);
  for (const auto& p : params) {
    if (p.requires_grad()) params_.push_back(p);
  }
  buckets_ = plan_buckets(params_, bucket_mb * kMiB);
  buffers_.resize(buckets_.size());
}

void GradSync::all_reduce_mean() {
  torch::Tensor none;
  all_reduce_mean(none);
}

void GradSync::all_reduce_mean(torch::Tensor& rider) {
  if (!dist_.distributed()) return;
  TORCH_CHECK(!rider.defined() || rider.dim() == 1, "GradSync: the rider must be 1-D, got ", rider.sizes());
  torch::NoGradGuard no_grad;
  if (buckets_.empty()) {  // nothing trains: the rider goes alone
    if (rider.defined()) ::tips::dist::all_reduce_mean(dist_, rider);
    return;
  }
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (auto& p : params_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  // Launch every bucket, then wait: the backend overlaps the transfers of consecutive buckets.
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  std::vector<torch::Tensor> sent(buckets_.size());  // each bucket's buffer, the last one with the rider
  std::vector<int64_t> numels(buckets_.size());      // each bucket's gradient elements
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const int64_t numel = numels[b] = numel_of(grads, buckets_[b]);
    const int64_t extra = b + 1 == buckets_.size() && rider.defined() ? rider.numel() : 0;
    if (!buffers_[b].defined() || buffers_[b].numel() < numel + extra) {
      buffers_[b] = torch::empty({numel + extra}, grads[buckets_[b][0]].options());
    }
    sent[b] = buffers_[b].narrow(0, 0, numel + extra);
    auto grads_part = sent[b].narrow(0, 0, numel);
    pack(grads, buckets_[b], grads_part);
    if (extra > 0) sent[b].narrow(0, numel, extra).copy_(rider);
    std::vector<torch::Tensor> v{sent[b]};
    works.push_back(launch(dist_, kName, [&] { return dist_.group->backend->allreduce(v); }));
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    wait(dist_, kName, works[b]);
    sent[b].div_(dist_.world_size);
    unpack(sent[b].narrow(0, 0, numels[b]), grads, buckets_[b]);
    if (b + 1 == buckets_.size() && rider.defined()) rider.copy_(sent[b].narrow(0, numels[b], rider.numel()));
  }
}

}  // namespace tips::dist
