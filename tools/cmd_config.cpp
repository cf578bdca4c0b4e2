// `tips config`: print the fully resolved config (or every default with its documentation).
#include <iostream>

#include "command.h"
#include "tips/config/config.h"

namespace cmd_config {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::cli::ConfigArgs config;
  bool defaults = false;
  bool docs = false;
};

tips::cli::Registrar reg("config", "print the resolved config (defaults <- files <- overrides)", [](CLI::App& app) {
  auto opts = std::make_shared<Opts>();
  tips::cli::add_config_args(app, opts->config);
  app.add_flag("--defaults", opts->defaults, "print every key with its default and documentation");
  app.add_flag("--docs", opts->docs, "annotate each key with its documentation");
  return [opts] {
    const auto cfg = opts->defaults ? tips::config::RunConfig{}
                                    : tips::config::load(opts->config.files, opts->config.overrides);
    std::cout << tips::config::to_yaml(cfg, opts->defaults || opts->docs);
    return 0;
  };
});

}  // namespace cmd_config
