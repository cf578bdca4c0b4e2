// Launcher environment -> DistEnv (the pure half of dist/context.h).
#include <cstdlib>
#include <string>
#include <vector>

#include "tips/core/error.h"
#include "tips/dist/context.h"

namespace tips::dist {
namespace {

const char* const kTorchrunVars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"};
const char* const kAllVars[] = {"RANK",          "WORLD_SIZE",          "LOCAL_RANK",
                                "LOCAL_WORLD_SIZE", "MASTER_ADDR",      "MASTER_PORT",
                                "SLURM_PROCID",  "SLURM_NTASKS",        "SLURM_LOCALID",
                                "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE", "SLURM_NNODES",
                                "SLURM_LAUNCH_NODE_IPADDR"};

const char* const kLaunchHint =
    "launch every rank with the torchrun variables set, e.g. `torchrun --nproc_per_node=2 tips train ...` "
    "(or, without torchrun, `scripts/launch_local.sh 2 tips train ...`); under SLURM use `srun tips train ...`; "
    "unset RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE/SLURM_PROCID for a single process";

// Collects missing / malformed variables so that one error names all of them.
class Reader {
 public:
  explicit Reader(const EnvMap& env) : env_(env) {}

  bool has(const std::string& name) const { return env_.count(name) > 0; }
  std::string str(const std::string& name) const { return has(name) ? env_.at(name) : std::string(); }

  // The integer value of `name`, or `fallback` (recording `name` as missing when required).
  int integer(const std::string& name, bool required, int fallback = 0) {
    if (!has(name)) {
      if (required) missing_.push_back(name);
      return fallback;
    }
    const std::string& s = env_.at(name);
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < 0 || v > 1000000) {
      bad_.push_back(name + "='" + s + "' (expected a non-negative integer)");
      return fallback;
    }
    return static_cast<int>(v);
  }
  void require(const std::string& name) {
    if (!has(name) || env_.at(name).empty()) missing_.push_back(name);
  }
  void bad(const std::string& what) { bad_.push_back(what); }

  // Throws one DistError listing everything collected so far.
  void throw_if_any(const char* launcher) const {
    if (missing_.empty() && bad_.empty()) return;
    std::string msg = std::string(missing_.empty() ? "invalid " : "incomplete ") + launcher + " environment:";
    if (!missing_.empty()) {
      msg += " missing";
      for (const auto& m : missing_) msg += " " + m;
    }
    if (!bad_.empty()) {
      msg += missing_.empty() ? " invalid" : "; invalid";
      for (const auto& b : bad_) msg += " " + b;
    }
    throw DistError(msg, kLaunchHint);
  }

 private:
  const EnvMap& env_;
  std::vector<std::string> missing_, bad_;
};

// "4(x2),3" -> 4; "8" -> 8; anything else -> -1.
int leading_count(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i == 0 ? -1 : std::atoi(s.substr(0, i).c_str());
}

void check_ranges(Reader& r, DistEnv& e, const char* rank_var, const char* world_var, const char* local_var) {
  if (e.world_size < 1) r.bad(std::string(world_var) + "=" + std::to_string(e.world_size) + " (must be >= 1)");
  if (e.rank >= e.world_size)
    r.bad(std::string(rank_var) + "=" + std::to_string(e.rank) + " (must be < " + world_var + "=" +
          std::to_string(e.world_size) + ")");
  if (e.local_world_size < 1 || e.local_rank >= e.local_world_size)
    r.bad(std::string(local_var) + "=" + std::to_string(e.local_rank) + " (must be < local world size " +
          std::to_string(e.local_world_size) + ")");
  if (e.world_size > 1 && (e.master_port < 1 || e.master_port > 65535))
    r.bad("MASTER_PORT=" + std::to_string(e.master_port) + " (must be in 1..65535)");
}

DistEnv parse_torchrun(Reader& r) {
  DistEnv e;
  e.launcher = Launcher::kTorchrun;
  e.rank = r.integer("RANK", /*required=*/true);
  e.world_size = r.integer("WORLD_SIZE", /*required=*/true, /*fallback=*/1);
  const bool multi = e.world_size > 1;
  e.local_rank = r.integer("LOCAL_RANK", multi);
  e.local_world_size = r.integer("LOCAL_WORLD_SIZE", multi, /*fallback=*/1);
  if (multi) {
    r.require("MASTER_ADDR");
    e.master_addr = r.str("MASTER_ADDR");
    e.master_port = r.integer("MASTER_PORT", /*required=*/true, kDefaultMasterPort);
  }
  r.throw_if_any("torchrun");
  check_ranges(r, e, "RANK", "WORLD_SIZE", "LOCAL_RANK");
  r.throw_if_any("torchrun");
  return e;
}

DistEnv parse_slurm(Reader& r) {
  DistEnv e;
  e.launcher = Launcher::kSlurm;
  e.rank = r.integer("SLURM_PROCID", /*required=*/true);
  e.world_size = r.integer("SLURM_NTASKS", /*required=*/true, /*fallback=*/1);
  e.local_rank = r.integer("SLURM_LOCALID", /*required=*/true);
  int local_world = r.has("SLURM_NTASKS_PER_NODE") ? leading_count(r.str("SLURM_NTASKS_PER_NODE")) : -1;
  if (local_world < 1 && r.has("SLURM_TASKS_PER_NODE")) local_world = leading_count(r.str("SLURM_TASKS_PER_NODE"));
  if (local_world < 1) {
    const int nodes = r.integer("SLURM_NNODES", /*required=*/false, /*fallback=*/1);
    local_world = nodes > 0 ? (e.world_size + nodes - 1) / nodes : e.world_size;
  }
  e.local_world_size = local_world;
  if (e.world_size > 1) {
    e.master_addr = r.has("MASTER_ADDR") ? r.str("MASTER_ADDR") : r.str("SLURM_LAUNCH_NODE_IPADDR");
    if (e.master_addr.empty()) r.require("MASTER_ADDR (or SLURM_LAUNCH_NODE_IPADDR)");
    e.master_port = r.integer("MASTER_PORT", /*required=*/false, kDefaultMasterPort);
  }
  r.throw_if_any("SLURM");
  check_ranges(r, e, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID");
  r.throw_if_any("SLURM");
  return e;
}

}  // namespace

DistEnv parse_env(const EnvMap& env) {
  Reader r(env);
  for (const char* v : kTorchrunVars) {
    if (r.has(v)) return parse_torchrun(r);
  }
  if (r.has("SLURM_PROCID")) return parse_slurm(r);
  return DistEnv{};
}

EnvMap read_env() {
  EnvMap env;
  for (const char* name : kAllVars) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  return env;
}

}  // namespace tips::dist
