// DistContext: device + backend choice and the TCPStore rendezvous.
#include "tips/dist/context.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "process_group.h"

namespace tips::dist {
namespace {

torch::Device pick_device(int local_rank) {
  if (!torch::cuda::is_available()) return torch::kCPU;
  const int n = static_cast<int>(torch::cuda::device_count());
  if (local_rank >= n) {
    throw DistError("local rank " + std::to_string(local_rank) + " has no GPU: this host has " +
                        std::to_string(n) + " CUDA device(s)",
                    "start at most one rank per GPU (torchrun --nproc_per_node=" + std::to_string(n) +
                        "), or hide the GPUs (CUDA_VISIBLE_DEVICES=) to run on CPU with Gloo");
  }
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  // The current device decides where NCCL's barrier and communicators live; set it without CUDA headers.
  c10::impl::getDeviceGuardImpl(device.type())->setDevice(device);
  return device;
}

Backend resolve_backend(Backend wanted, const torch::Device& device) {
  if (wanted == Backend::kAuto) {
    if (!device.is_cuda()) return Backend::kGloo;
    if (nccl_available()) return Backend::kNccl;
    spdlog::warn("dist.backend=auto: CUDA but this build has no NCCL; using Gloo (slow for GPU tensors)");
    return Backend::kGloo;
  }
  if (wanted == Backend::kNccl && !device.is_cuda()) {
    throw DistError("dist.backend=nccl needs CUDA, but this process runs on CPU",
                    "use dist.backend=auto (Gloo on CPU) or dist.backend=gloo");
  }
  return wanted;
}

DistError rendezvous_error(const DistContext& ctx, const DistEnv& env, std::chrono::steady_clock::time_point t0,
                           std::string cause) {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (const auto nl = cause.find('\n'); nl != std::string::npos) cause.resize(nl);
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.3g", s);
  return DistError("rank " + std::to_string(env.rank) + ": rendezvous at " + env.master_addr + ":" +
                       std::to_string(env.master_port) + " (" + backend_name(ctx.backend) + ", world size " +
                       std::to_string(env.world_size) + ") failed after " + secs + " s (" + cause + ")",
                   "all " + std::to_string(env.world_size) + " ranks must start within dist.timeout_s of each "
                   "other and reach MASTER_ADDR:MASTER_PORT; rank 0 needs that port free (pick another "
                   "MASTER_PORT if it is busy); under SLURM start ranks with srun, not directly in the batch script");
}

std::shared_ptr<ProcessGroup> connect(const DistContext& ctx, const DistEnv& env) {
  auto group = std::make_shared<ProcessGroup>();
  const auto timeout = to_ms(ctx.timeout_s);
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(env.master_port);
  opts.isServer = env.rank == 0;
  opts.numWorkers = static_cast<std::size_t>(env.world_size);
  opts.waitWorkers = true;
  opts.timeout = timeout;
  group->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  group->backend = ctx.backend == Backend::kNccl ? make_nccl(group->store, env.rank, env.world_size, timeout)
                                                 : make_gloo(group->store, env.rank, env.world_size, timeout);
  return group;
}

// The store and the backend under one deadline of dist.timeout_s. Their own timeouts add up (a server waiting for
// its workers, then the backend's own rendezvous: twice the timeout) and a client whose MASTER_PORT is held by a
// program that is not a c10d store waits for an answer forever, so the connection runs on a thread of its own and
// this thread stops waiting at the deadline. A connection that never returns leaves that thread blocked until the
// process exits, which is what follows the DistError.
std::shared_ptr<ProcessGroup> rendezvous(const DistContext& ctx, const DistEnv& env) {
  const auto t0 = std::chrono::steady_clock::now();
  auto result = std::make_shared<std::promise<std::shared_ptr<ProcessGroup>>>();
  auto done = result->get_future();
  std::thread([result, ctx, env] {
    try {
      result->set_value(connect(ctx, env));
    } catch (...) {
      result->set_exception(std::current_exception());
    }
  }).detach();
  if (done.wait_for(std::chrono::duration<double>(ctx.timeout_s)) != std::future_status::ready)
    throw rendezvous_error(ctx, env, t0, "no complete rendezvous within dist.timeout_s");
  try {
    return done.get();
  } catch (const tips::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw rendezvous_error(ctx, env, t0, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw rendezvous_error(ctx, env, t0, e.what());
  }
}

}  // namespace

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::kGloo: return "gloo";
    case Backend::kNccl: return "nccl";
    case Backend::kAuto: break;
  }
  return "auto";
}

DistContext init(const DistConfig& cfg) { return init(cfg, parse_env(read_env())); }

DistContext init(const DistConfig& cfg, const DistEnv& env) {
  DistContext ctx;
  ctx.rank = env.rank;
  ctx.world_size = env.world_size;
  ctx.local_rank = env.local_rank;
  ctx.local_world_size = env.local_world_size;
  ctx.timeout_s = cfg.timeout_s;
  ctx.device = pick_device(env.local_rank);
  ctx.backend = resolve_backend(cfg.backend, ctx.device);
  if (env.world_size > 1) ctx.group = rendezvous(ctx, env);
  spdlog::debug("dist: rank {}/{} local {}/{} device {} backend {}", ctx.rank, ctx.world_size, ctx.local_rank,
                ctx.local_world_size, ctx.device.str(), ctx.world_size > 1 ? backend_name(ctx.backend) : "none");
  return ctx;
}

}  // namespace tips::dist
