// `tips plan`: parameters, FLOPs and memory of a config under each teacher.ema policy, without training.
#include <iostream>

#include "command.h"
#include "tips/config/config.h"
#include "tips/train/plan.h"

namespace cmd_plan {  // named, not anonymous: the CLI is compiled in unity batches

tips::cli::Registrar reg("plan", "parameters / FLOPs / memory per teacher.ema policy, without training",
                         [](CLI::App& app) {
                           auto args = std::make_shared<tips::cli::ConfigArgs>();
                           tips::cli::add_config_args(app, *args);
                           return [args] {
                             const auto cfg = tips::config::load(args->files, args->overrides);
                             std::cout << tips::train::format_plan(tips::train::make_plan(cfg));
                             return 0;
                           };
                         });

}  // namespace cmd_plan
