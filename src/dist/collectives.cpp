#include "tips/dist/collectives.h"

#include <chrono>
#include <limits>
#include <string>

#include "flat.h"
#include "process_group.h"
#include "tips/dist/data_parallel.h"

namespace tips::dist {
namespace {

void check_tensor(const DistContext& dist, const torch::Tensor& t, const char* fn) {
  TORCH_CHECK(t.defined(), fn, ": undefined tensor");
  TORCH_CHECK(dist.backend != Backend::kNccl || t.is_cuda(), fn, ": the NCCL backend needs CUDA tensors, got ",
              t.device(), " for a tensor of shape ", t.sizes());
}

// Runs `op` on t itself when contiguous, else on a contiguous copy that is written back.
template <class F>
void on_contiguous(torch::Tensor& t, const F& op) {
  torch::NoGradGuard no_grad;  // collectives write raw memory; the copy back must not be recorded
  if (t.is_contiguous()) {
    op(t);
    return;
  }
  auto c = t.contiguous();
  op(c);
  t.copy_(c);
}

void all_reduce_one(const DistContext& dist, torch::Tensor& t, const char* name) {
  on_contiguous(t, [&](torch::Tensor& c) {
    std::vector<torch::Tensor> v{c};
    wait(dist, name, launch(dist, name, [&] { return dist.group->backend->allreduce(v); }));
  });
}

void broadcast_one(const DistContext& dist, torch::Tensor& t, int src_rank) {
  on_contiguous(t, [&](torch::Tensor& c) {
    std::vector<torch::Tensor> v{c};
    c10d::BroadcastOptions opts;
    opts.rootRank = src_rank;
    wait(dist, "broadcast", launch(dist, "broadcast", [&] { return dist.group->backend->broadcast(v, opts); }));
  });
}

// Applies `one` to each (dtype, device) group of ts as a single flat tensor.
template <class F>
void coalesced(std::vector<torch::Tensor>& ts, const F& one) {
  torch::NoGradGuard no_grad;
  for (const auto& group : plan_buckets(ts, std::numeric_limits<int64_t>::max())) {
    if (group.size() == 1) {
      one(ts[group[0]]);
      continue;
    }
    auto flat = pack(ts, group);
    one(flat);
    unpack(flat, ts, group);
  }
}

void check_floating(const torch::Tensor& t, const char* fn) {
  TORCH_CHECK(at::isFloatingType(t.scalar_type()) || at::isComplexType(t.scalar_type()), fn,
              ": a mean needs a floating dtype, got ", t.scalar_type());
}

// Lets the autograd Function carry the context into backward (saved_data holds IValues only).
struct ContextCapsule : torch::CustomClassHolder {
  explicit ContextCapsule(DistContext d) : dist(std::move(d)) {}
  DistContext dist;
};

class GatherWithGrad : public torch::autograd::Function<GatherWithGrad> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const DistContext* dist) {
    ctx->saved_data["dist"] = c10::IValue::make_capsule(c10::make_intrusive<ContextCapsule>(*dist));
    ctx->saved_data["rows"] = x.size(0);
    return all_gather(*dist, x);  // (W*B, ...)
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto capsule = c10::static_intrusive_pointer_cast<ContextCapsule>(ctx->saved_data["dist"].toCapsule());
    const DistContext& dist = capsule->dist;
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto g = grads[0].clone(at::MemoryFormat::Contiguous);  // (W*B, ...); never reduce autograd's buffer
    all_reduce_one(dist, g, "all_gather_with_grad.backward");
    return {g.narrow(0, dist.rank * rows, rows), torch::Tensor()};  // (B, ...), nothing for `dist`
  }
};

}  // namespace

void all_reduce_sum(const DistContext& dist, torch::Tensor& t) {
  if (!dist.distributed()) return;
  check_tensor(dist, t, "all_reduce_sum");
  all_reduce_one(dist, t, "all_reduce_sum");
}

void all_reduce_mean(const DistContext& dist, torch::Tensor& t) {
  check_floating(t, "all_reduce_mean");
  if (!dist.distributed()) return;
  check_tensor(dist, t, "all_reduce_mean");
  all_reduce_one(dist, t, "all_reduce_mean");
  t.div_(dist.world_size);
}

void all_reduce_sum(const DistContext& dist, std::vector<torch::Tensor>& ts) {
  if (!dist.distributed() || ts.empty()) return;
  for (const auto& t : ts) check_tensor(dist, t, "all_reduce_sum");
  coalesced(ts, [&](torch::Tensor& t) { all_reduce_one(dist, t, "all_reduce_sum"); });
}

void all_reduce_mean(const DistContext& dist, std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts) check_floating(t, "all_reduce_mean");
  if (!dist.distributed() || ts.empty()) return;
  all_reduce_sum(dist, ts);
  for (auto& t : ts) t.div_(dist.world_size);
}

void broadcast(const DistContext& dist, torch::Tensor& t, int src_rank) {
  if (!dist.distributed()) return;
  check_tensor(dist, t, "broadcast");
  TORCH_CHECK(src_rank >= 0 && src_rank < dist.world_size, "broadcast: src_rank ", src_rank,
              " outside [0, ", dist.world_size, ")");
  broadcast_one(dist, t, src_rank);
}

void broadcast(const DistContext& dist, std::vector<torch::Tensor>& ts, int src_rank) {
  if (!dist.distributed() || ts.empty()) return;
  for (const auto& t : ts) check_tensor(dist, t, "broadcast");
  TORCH_CHECK(src_rank >= 0 && src_rank < dist.world_size, "broadcast: src_rank ", src_rank,
              " outside [0, ", dist.world_size, ")");
  coalesced(ts, [&](torch::Tensor& t) { broadcast_one(dist, t, src_rank); });
}

void barrier(const DistContext& dist) {
  if (!dist.distributed()) return;
  wait(dist, "barrier", launch(dist, "barrier", [&] { return dist.group->backend->barrier(); }));
}

void wait_for_main(const DistContext& dist, const std::string& tag, double timeout_s) {
  if (!dist.distributed()) return;
  const std::string key = "tips/main_done/" + tag;
  if (dist.is_main()) {
    dist.group->store->set(key, std::vector<uint8_t>{1});
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    dist.group->store->wait({key}, to_ms(timeout_s));
  } catch (const std::exception& e) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    throw collective_error(dist, "wait_for_main(" + tag + ")", elapsed, e.what());
  }
}

torch::Tensor all_gather(const DistContext& dist, const torch::Tensor& t) {
  if (!dist.distributed()) return t.detach();
  check_tensor(dist, t, "all_gather");
  TORCH_CHECK(t.dim() >= 1, "all_gather: needs at least one dim to concatenate along, got a 0-dim tensor");
  auto in = t.detach().contiguous();                                      // (B, ...)
  const int64_t rows = in.size(0);
  auto shape = in.sizes().vec();
  shape[0] *= dist.world_size;
  auto out = torch::empty(shape, in.options());                           // (W*B, ...)
  std::vector<std::vector<torch::Tensor>> outs(1);
  for (int r = 0; r < dist.world_size; ++r) outs[0].push_back(out.narrow(0, r * rows, rows));
  std::vector<torch::Tensor> ins{in};
  wait(dist, "all_gather", launch(dist, "all_gather", [&] { return dist.group->backend->allgather(outs, ins); }));
  return out;
}

torch::Tensor all_gather_with_grad(const DistContext& dist, const torch::Tensor& t) {
  if (!dist.distributed()) return t;
  return GatherWithGrad::apply(t, &dist);
}

std::vector<torch::Tensor> all_gather_with_grad(const DistContext& dist, const std::vector<torch::Tensor>& ts) {
  if (!dist.distributed() || ts.empty()) return ts;
  std::vector<torch::Tensor> rows;  // each rank's tensors side by side in one row: (1, sum of numels)
  for (const auto& t : ts) {
    TORCH_CHECK(t.defined() && t.dim() >= 1 && t.scalar_type() == ts[0].scalar_type(),
                "all_gather_with_grad: expected defined tensors of one dtype with a row dimension, got ", t.sizes());
    rows.push_back(t.reshape({1, -1}));
  }
  const auto all = all_gather_with_grad(dist, torch::cat(rows, /*dim=*/1));  // (W, sum of numels)
  std::vector<torch::Tensor> out;
  int64_t offset = 0;
  for (const auto& t : ts) {
    std::vector<int64_t> shape = t.sizes().vec();
    shape[0] *= dist.world_size;
    out.push_back(all.narrow(1, offset, t.numel()).reshape(shape));  // rank-major rows, as the single form
    offset += t.numel();
  }
  return out;
}

Reducer sum_reducer(const DistContext& dist) {
  if (!dist.distributed()) return [](torch::Tensor&) {};
  return [dist](torch::Tensor& t) { all_reduce_sum(dist, t); };
}

}  // namespace tips::dist
