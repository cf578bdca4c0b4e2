// Shared by tests/dist/*_test.cpp and the tips_dist_worker helper: launching N ranks of the worker as separate
// processes with the torchrun variables (no fork of a torch process), and the tiny CLIP-style problem whose
// gradients the multi-process run must reproduce.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tips/core/rng.h"

extern char** environ;

namespace tips::dist::testing {

// ---- the CLIP-style problem (B rows per rank, W ranks, Din input width, D embedding width) ----
constexpr int64_t kRows = 3, kDin = 5, kDim = 4;
constexpr double kTemperature = 0.1;

struct ClipProblem {
  torch::Tensor images, texts;      // (W*B, Din) float64, the global batch
  torch::Tensor w_image, w_text;    // (Din, D) float64 towers, identical on every rank
};

inline ClipProblem make_clip_problem(int world_size) {
  auto gen = tips::rng::generator(1234);
  auto opts = torch::dtype(torch::kFloat64);
  ClipProblem p;
  p.images = torch::randn({world_size * kRows, kDin}, gen, opts);
  p.texts = torch::randn({world_size * kRows, kDin}, gen, opts);
  p.w_image = torch::randn({kDin, kDim}, gen, opts).requires_grad_(true);
  p.w_text = torch::randn({kDin, kDim}, gen, opts).requires_grad_(true);
  return p;
}

// Symmetric InfoNCE over already-gathered embeddings img, txt: (N, D) -> 0-dim.
inline torch::Tensor clip_loss(const torch::Tensor& img, const torch::Tensor& txt) {
  const auto a = torch::nn::functional::normalize(img, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const auto b = torch::nn::functional::normalize(txt, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const auto logits = torch::matmul(a, b.t()) / kTemperature;  // (N, N)
  const auto labels = torch::arange(logits.size(0));
  return 0.5 * (torch::nn::functional::cross_entropy(logits, labels) +
                torch::nn::functional::cross_entropy(logits.t(), labels));
}

// ---- gradient sync / broadcast problem ----

// Parameters of several dtypes/sizes: with bucket_mb=1 they make the buckets {0}, {1, 3}, {2}.
// [0] 300000 f32 (1.2 MB, alone), [1] 1000 f32, [2] 64 f64, [3] 20 f32 (unused on rank 1), [4] frozen.
inline std::vector<torch::Tensor> make_sync_params() {
  return {torch::zeros({300000}).requires_grad_(true), torch::zeros({10, 100}).requires_grad_(true),
          torch::zeros({8, 8}, torch::kFloat64).requires_grad_(true), torch::zeros({20}).requires_grad_(true),
          torch::zeros({10})};
}

// Rank r's gradient of parameter i (undefined for [3] on rank 1 and for the frozen [4]).
inline torch::Tensor rank_grad(const std::vector<torch::Tensor>& params, size_t i, int rank) {
  if (i == 4 || (i == 3 && rank == 1)) return {};
  auto gen = tips::rng::generator(tips::rng::derive(7, rank, i));
  return torch::randn(params[i].sizes(), gen, params[i].options().requires_grad(false));
}

inline void fill_rank_grads(std::vector<torch::Tensor>& params, int rank) {
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = rank_grad(params, i, rank);
    if (g.defined()) params[i].mutable_grad() = g;
  }
}

// A module whose values differ per rank: parameters w (4, 3), child.v (5) and an int64 buffer count (2).
struct TinyImpl : torch::nn::Module {
  struct ChildImpl : torch::nn::Module {
    torch::Tensor v;
  };
  explicit TinyImpl(int rank) {
    auto gen = tips::rng::generator(tips::rng::derive(99, rank));
    w = register_parameter("w", torch::randn({4, 3}, gen));
    child = register_module("child", std::make_shared<ChildImpl>());
    child->v = child->register_parameter("v", torch::randn({5}, gen));
    count = register_buffer("count", torch::full({2}, int64_t(rank) + 5, torch::kInt64));
  }
  torch::Tensor w, count;
  std::shared_ptr<ChildImpl> child;
};
inline std::shared_ptr<TinyImpl> make_tiny(int rank) { return std::make_shared<TinyImpl>(rank); }

// ---- launching ranks ----

// A TCP port that was free a moment ago on 127.0.0.1.
inline int probe_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// probe_port(), but never the same port twice in one process (concurrent launches).
inline int free_port() {
  static std::vector<int> given;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int p = probe_port();
    if (p > 0 && std::find(given.begin(), given.end(), p) == given.end()) {
      given.push_back(p);
      return p;
    }
  }
  return 0;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct RankRun {
  int exit_code = -1;   // the worker's exit status; -9 when killed at the deadline
  double seconds = 0;   // wall time until it exited
  std::string log;      // its stdout + stderr
};

struct LaunchOptions {
  std::string role;                 // first argument of tips_dist_worker
  int world_size = 2;
  std::vector<int> ranks;           // ranks to start; empty = all
  std::string out_dir;              // second argument; rank r writes rank<r>.* there
  double timeout_s = 3.0;           // dist.timeout_s inside the workers (TIPS_TEST_TIMEOUT_S)
  double deadline_s = 90.0;         // kill everything still running after this long (a hang)
  std::vector<std::string> command; // when set, every rank runs this argv instead of `worker role out_dir`
};

// Processes of one launch that are still to be waited for.
struct Launch {
  LaunchOptions options;
  std::vector<pid_t> pids;
  std::vector<RankRun> runs;
};

// Starts the ranks as `worker role out_dir` with RANK/WORLD_SIZE/... set; does not wait.
inline Launch start_ranks(const std::string& worker, LaunchOptions o) {
  if (o.ranks.empty()) {
    for (int r = 0; r < o.world_size; ++r) o.ranks.push_back(r);
  }
  ::mkdir(o.out_dir.c_str(), 0755);
  const int port = free_port();
  std::vector<std::string> base;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "RANK" || key == "WORLD_SIZE" || key == "LOCAL_RANK" || key == "LOCAL_WORLD_SIZE" ||
        key == "MASTER_ADDR" || key == "MASTER_PORT" || key.rfind("SLURM_", 0) == 0 || key == "OMP_NUM_THREADS") {
      continue;
    }
    base.push_back(kv);
  }
  Launch l{o, std::vector<pid_t>(o.ranks.size(), -1), std::vector<RankRun>(o.ranks.size())};
  for (size_t i = 0; i < o.ranks.size(); ++i) {
    const int r = o.ranks[i];
    std::vector<std::string> env = base;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(o.world_size));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(o.world_size));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("OMP_NUM_THREADS=1");
    env.push_back("TIPS_TEST_TIMEOUT_S=" + std::to_string(o.timeout_s));
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = o.command.empty() ? std::vector<std::string>{worker, o.role, o.out_dir} : o.command;
    const std::string exe = args[0];
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string log = o.out_dir + "/rank" + std::to_string(r) + ".log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&l.pids[i], exe.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) l.pids[i] = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  return l;
}

// Waits for every rank of every launch (concurrently), killing what still runs past its deadline.
// Returns the runs per launch, in order; RankRun::seconds counts from this call.
inline std::vector<std::vector<RankRun>> wait_ranks(std::vector<Launch> launches) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  size_t running = 0;
  for (const auto& l : launches) {
    for (pid_t p : l.pids) running += p > 0;
  }
  while (running > 0) {
    for (auto& l : launches) {
      for (size_t i = 0; i < l.pids.size(); ++i) {
        if (l.pids[i] <= 0) continue;
        int status = 0;
        if (::waitpid(l.pids[i], &status, WNOHANG) == l.pids[i]) {
          l.runs[i].exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
          l.runs[i].seconds = elapsed();
          l.pids[i] = -1;
          --running;
        } else if (elapsed() > l.options.deadline_s) {
          ::kill(l.pids[i], SIGKILL);  // only processes started by start_ranks()
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<std::vector<RankRun>> all;
  for (auto& l : launches) {
    for (size_t i = 0; i < l.runs.size(); ++i) {
      l.runs[i].log = read_text(l.options.out_dir + "/rank" + std::to_string(l.options.ranks[i]) + ".log");
    }
    all.push_back(l.runs);
  }
  return all;
}

// start_ranks + wait_ranks for a single launch.
inline std::vector<RankRun> launch_ranks(const std::string& worker, const LaunchOptions& o) {
  std::vector<Launch> one;
  one.push_back(start_ranks(worker, o));
  return wait_ranks(std::move(one))[0];
}

// `program args...` as every rank's command (e.g. the real `tips train`), world_size ranks, outputs in out_dir.
inline LaunchOptions command_launch(const std::string& out_dir, int world_size, std::vector<std::string> command) {
  LaunchOptions o;
  o.world_size = world_size;
  o.out_dir = out_dir;
  o.deadline_s = 600;
  o.command = std::move(command);
  return o;
}

#ifdef TIPS_BINARY_DIR
// A fresh directory under the build tree for one test's rank outputs.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = std::string(TIPS_BINARY_DIR) + "/dist_test_out";
  ::mkdir(dir.c_str(), 0755);
  const std::string d = dir + "/" + name + "_" + std::to_string(::getpid());
  ::mkdir(d.c_str(), 0755);
  return d;
}
#endif

}  // namespace tips::dist::testing
