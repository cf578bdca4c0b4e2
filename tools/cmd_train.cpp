// `tips train`: the main command. Single process: `tips train -c cfg.yaml`; multi-process: under torchrun or srun
// (`torchrun --no-python --nproc-per-node=N build/tips train -c cfg.yaml`), or scripts/launch_local.sh.
#include <spdlog/spdlog.h>

#include "command.h"
#include "tips/config/config.h"
#include "tips/core/log.h"
#include "tips/core/system.h"
#include "tips/dist/context.h"
#include "tips/train/eval_hook.h"
#include "tips/train/trainer.h"

namespace cmd_train {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::cli::ConfigArgs config;
  std::string resume;
};

tips::cli::Registrar reg("train", "pretrain a TIPSv2 model from a YAML config", [](CLI::App& app) {
  auto opts = std::make_shared<Opts>();
  tips::cli::add_config_args(app, opts->config);
  app.add_option("--resume", opts->resume, "auto (newest valid checkpoint in the run dir) or a checkpoint path");
  return [opts] {
    auto cfg = tips::config::load(opts->config.files, opts->config.overrides);
    if (!opts->resume.empty()) cfg.ckpt.resume = opts->resume;
    // The rank is known from the environment before the Trainer builds the process group: its startup tables
    // print on rank 0 only, at the --log-level given.
    const auto env = tips::dist::parse_env(tips::dist::read_env());
    tips::log::setup(env.rank, env.world_size, tips::log::level());
    tips::train::Trainer trainer(cfg);
    if (env.rank == 0) tips::sys::log_startup_environment();
    trainer.set_eval_hook(tips::train::make_eval_hook(cfg));
    trainer.train();
    return 0;
  };
});

}  // namespace cmd_train
