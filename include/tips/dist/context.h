// tips/dist/context.h - who this process is in a multi-process job, and its c10d process group.
// Reads the launcher's environment (torchrun or SLURM), picks the device and the backend (NCCL on CUDA,
// Gloo on CPU) and rendezvouses through a TCPStore whose server is rank 0. It does not run collectives
// (dist/collectives.h) nor synchronise gradients (dist/data_parallel.h).
//
// Example:
//   tips::dist::DistContext dist = tips::dist::init(cfg.dist);   // no launcher variables: single process
//   tips::log::setup(dist.rank, dist.world_size);
//   model->to(dist.device);
//
// A partial environment (RANK without WORLD_SIZE, WORLD_SIZE=2 without MASTER_ADDR, ...) is a DistError
// naming the missing variables; a rendezvous that does not complete within DistConfig::timeout_s is too.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "tips/dist/config.h"

namespace tips::dist {

// Which launcher's variables described the job.
enum class Launcher { kNone, kTorchrun, kSlurm };

// Default rendezvous port when the launcher gives none (SLURM without MASTER_PORT); torchrun's default.
constexpr int kDefaultMasterPort = 29500;

// The job layout as read from environment variables. Plain data: parse_env() is a pure function.
struct DistEnv {
  Launcher launcher = Launcher::kNone;
  int rank = 0;              // global rank in [0, world_size)
  int world_size = 1;        // number of processes in the job
  int local_rank = 0;        // rank on this host in [0, local_world_size): selects the GPU
  int local_world_size = 1;  // processes on this host
  std::string master_addr;   // host of rank 0's TCPStore; empty when world_size == 1
  int master_port = 0;       // its port; 0 when world_size == 1
};

// Variable name -> value, only the variables that are set.
using EnvMap = std::map<std::string, std::string>;

// Reads the job layout. torchrun (any of RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE set) wins over
// SLURM (SLURM_PROCID set); neither = single process. torchrun needs RANK and WORLD_SIZE, and when
// WORLD_SIZE > 1 also LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. SLURM needs SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID; master from MASTER_ADDR else SLURM_LAUNCH_NODE_IPADDR, port from MASTER_PORT
// else kDefaultMasterPort; local world from SLURM_NTASKS_PER_NODE, else the first count in
// SLURM_TASKS_PER_NODE ("4(x2)" -> 4), else SLURM_NTASKS / SLURM_NNODES.
// Throws DistError naming every missing or malformed variable, with a launch hint.
DistEnv parse_env(const EnvMap& env);

// The variables parse_env() looks at, read from this process's environment.
EnvMap read_env();

// Opaque c10d state (store + backend); defined in src/dist/process_group.h.
class ProcessGroup;

// This process's place in the job. Copies share the process group.
struct DistContext {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  torch::Device device = torch::kCPU;  // cuda:local_rank when CUDA is available, else CPU
  Backend backend = Backend::kGloo;    // resolved: never kAuto
  double timeout_s = 300.0;            // store, rendezvous and every collective wait
  std::shared_ptr<ProcessGroup> group; // null: single process, every collective is a no-op

  bool distributed() const { return group != nullptr; }
  bool is_main() const { return rank == 0; }
};

// Builds the context from this process's environment: init(cfg, parse_env(read_env())).
DistContext init(const DistConfig& cfg);

// Builds the context for `env`: picks the device and backend, and when world_size > 1 connects to the
// TCPStore at master_addr:master_port (rank 0 serves it) and creates the Gloo/NCCL process group.
// Blocks until every rank has joined. Throws DistError on a bad backend choice (nccl without CUDA), a
// busy port or a rendezvous that does not complete within cfg.timeout_s.
DistContext init(const DistConfig& cfg, const DistEnv& env);

// "gloo" | "nccl" | "auto".
const char* backend_name(Backend b);

}  // namespace tips::dist
