#include "tips/dist/context.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tips/core/error.h"
#include "tips/dist/collectives.h"
#include "tips/dist/data_parallel.h"

namespace {

using tips::dist::DistEnv;
using tips::dist::EnvMap;
using tips::dist::Launcher;

const EnvMap kTorchrun2 = {{"RANK", "1"},        {"WORLD_SIZE", "2"},        {"LOCAL_RANK", "1"},
                           {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29123"}};

EnvMap without(EnvMap env, const std::string& key) {
  env.erase(key);
  return env;
}
EnvMap with(EnvMap env, const std::string& key, const std::string& value) {
  env[key] = value;
  return env;
}

struct EnvCase {
  std::string name;
  EnvMap env;
  DistEnv want;                       // compared when `errors` is empty
  std::vector<std::string> errors;    // substrings of the DistError text (what + hint)
};

TEST(DistEnvParse, Table) {
  const EnvMap slurm = {{"SLURM_PROCID", "5"},   {"SLURM_NTASKS", "8"},           {"SLURM_LOCALID", "1"},
                        {"SLURM_NNODES", "2"},   {"SLURM_TASKS_PER_NODE", "4(x2)"},
                        {"SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"}};
  const std::vector<EnvCase> cases = {
      {"nothing set: single process", {}, DistEnv{}, {}},
      {"MASTER_* alone do not make a job", {{"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}, DistEnv{}, {}},
      {"complete torchrun", kTorchrun2, {Launcher::kTorchrun, 1, 2, 1, 2, "10.0.0.1", 29123}, {}},
      {"torchrun world 1 needs no master", {{"RANK", "0"}, {"WORLD_SIZE", "1"}},
       {Launcher::kTorchrun, 0, 1, 0, 1, "", 0}, {}},
      {"torchrun wins over SLURM", with(kTorchrun2, "SLURM_PROCID", "7"),
       {Launcher::kTorchrun, 1, 2, 1, 2, "10.0.0.1", 29123}, {}},
      {"SLURM, master from launch node, default port", slurm,
       {Launcher::kSlurm, 5, 8, 1, 4, "10.1.2.3", tips::dist::kDefaultMasterPort}, {}},
      {"SLURM, MASTER_ADDR/PORT override", with(with(slurm, "MASTER_ADDR", "n0"), "MASTER_PORT", "4000"),
       {Launcher::kSlurm, 5, 8, 1, 4, "n0", 4000}, {}},
      {"SLURM local world from NTASKS/NNODES", without(slurm, "SLURM_TASKS_PER_NODE"),
       {Launcher::kSlurm, 5, 8, 1, 4, "10.1.2.3", tips::dist::kDefaultMasterPort}, {}},
      {"RANK without WORLD_SIZE", {{"RANK", "0"}}, {}, {"missing WORLD_SIZE", "torchrun --nproc_per_node"}},
      {"LOCAL_RANK alone", {{"LOCAL_RANK", "0"}}, {}, {"missing RANK WORLD_SIZE"}},
      {"WORLD_SIZE>1 without MASTER_ADDR", without(kTorchrun2, "MASTER_ADDR"), {}, {"missing MASTER_ADDR"}},
      {"two missing named together", without(without(kTorchrun2, "MASTER_PORT"), "LOCAL_RANK"), {},
       {"missing LOCAL_RANK MASTER_PORT"}},
      {"non-numeric RANK", with(kTorchrun2, "RANK", "one"), {}, {"RANK='one'"}},
      {"RANK >= WORLD_SIZE", with(kTorchrun2, "RANK", "2"), {}, {"RANK=2 (must be < WORLD_SIZE=2)"}},
      {"port out of range", with(kTorchrun2, "MASTER_PORT", "70000"), {}, {"MASTER_PORT=70000"}},
      {"SLURM without NTASKS", without(slurm, "SLURM_NTASKS"), {}, {"incomplete SLURM", "missing SLURM_NTASKS"}},
      {"SLURM without any master", without(slurm, "SLURM_LAUNCH_NODE_IPADDR"), {},
       {"missing MASTER_ADDR (or SLURM_LAUNCH_NODE_IPADDR)", "srun"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    if (!c.errors.empty()) {
      try {
        tips::dist::parse_env(c.env);
        ADD_FAILURE() << "expected a DistError";
      } catch (const tips::DistError& e) {
        for (const auto& s : c.errors) EXPECT_NE(e.full_message().find(s), std::string::npos) << e.full_message();
      }
      continue;
    }
    const DistEnv got = tips::dist::parse_env(c.env);
    EXPECT_EQ(got.launcher, c.want.launcher);
    EXPECT_EQ(got.rank, c.want.rank);
    EXPECT_EQ(got.world_size, c.want.world_size);
    EXPECT_EQ(got.local_rank, c.want.local_rank);
    EXPECT_EQ(got.local_world_size, c.want.local_world_size);
    EXPECT_EQ(got.master_addr, c.want.master_addr);
    EXPECT_EQ(got.master_port, c.want.master_port);
  }
}

TEST(DistContext, SingleProcessCollectivesAreIdentity) {
  const auto ctx = tips::dist::init(tips::dist::DistConfig{}, DistEnv{});
  EXPECT_FALSE(ctx.distributed());
  EXPECT_EQ(ctx.world_size, 1);
  EXPECT_TRUE(ctx.is_main());
  EXPECT_NE(ctx.backend, tips::dist::Backend::kAuto);

  auto t = torch::tensor({1.0, 2.0});
  tips::dist::all_reduce_sum(ctx, t);
  tips::dist::all_reduce_mean(ctx, t);
  tips::dist::broadcast(ctx, t);
  tips::dist::barrier(ctx);
  tips::dist::sum_reducer(ctx)(t);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0, 2.0})));
  EXPECT_TRUE(torch::equal(tips::dist::all_gather(ctx, t), t));

  // With one rank the gather is the identity, gradient included: d/dx sum(3 x) = 3.
  auto x = torch::tensor({1.0, -1.0}, torch::requires_grad());
  (tips::dist::all_gather_with_grad(ctx, x) * 3).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::full({2}, 3.0, x.options().requires_grad(false))));

  tips::dist::GradSync sync(ctx, {x}, /*bucket_mb=*/1);
  sync.all_reduce_mean();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::full({2}, 3.0, x.options().requires_grad(false))));
}

TEST(DistContext, MeanOfIntegersIsRejected) {
  const auto ctx = tips::dist::init(tips::dist::DistConfig{}, DistEnv{});
  auto t = torch::tensor({1, 2});
  EXPECT_THROW(tips::dist::all_reduce_mean(ctx, t), c10::Error);
}

TEST(DistContext, NcclOnCpuIsADistError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this host has CUDA: nccl is a valid choice";
  tips::dist::DistConfig cfg;
  cfg.backend = tips::dist::Backend::kNccl;
  try {
    tips::dist::init(cfg, DistEnv{});
    ADD_FAILURE() << "expected a DistError";
  } catch (const tips::DistError& e) {
    EXPECT_NE(std::string(e.what()).find("needs CUDA"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("gloo"), std::string::npos);
  }
}

// A listening socket on a free port that is not a c10d store: it accepts and never answers.
struct SilentListener {
  int fd = -1;
  int port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

double seconds_to_fail(const DistEnv& env, double timeout_s) {
  tips::dist::DistConfig cfg;
  cfg.timeout_s = timeout_s;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(tips::dist::init(cfg, env), tips::DistError);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every rendezvous path ends within dist.timeout_s: a worker whose MASTER_PORT is held by a program that is not a
// c10d store (it used to wait forever), and a lone rank 0 of a 2-rank job (it used to take twice the timeout).
TEST(DistContext, RendezvousEndsWithinTheTimeout) {
  SilentListener other_program;
  DistEnv worker;
  worker.rank = 1;
  worker.world_size = 2;
  worker.local_rank = 1;
  worker.local_world_size = 2;
  worker.master_addr = "127.0.0.1";
  worker.master_port = other_program.port;
  EXPECT_LT(seconds_to_fail(worker, 2.0), 3.5);

  SilentListener free_port;  // closed below: rank 0 may bind it, and no rank 1 ever comes
  DistEnv lone = worker;
  lone.rank = 0;
  lone.local_rank = 0;
  lone.master_port = free_port.port;
  ::close(free_port.fd);
  free_port.fd = -1;
  EXPECT_LT(seconds_to_fail(lone, 2.0), 3.5);
}

}  // namespace
