// tips - the single command-line entry point: train | eval | embed | export | import | plan | bench | data | config ...
// Subcommands register themselves (tools/command.h); this file parses, dispatches and turns errors into exit codes.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <iostream>
#include <map>

#include "command.h"
#include "tips/core/allocator.h"
#include "tips/core/error.h"
#include "tips/core/log.h"

namespace tips::cli {

std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

void add_config_args(CLI::App& app, ConfigArgs& args) {
  // No CLI11 existence check: a missing file is a ConfigError (exit 2, with a hint) from config::load.
  app.add_option("-c,--config", args.files, "YAML config file(s); later files override earlier ones")
      ->allow_extra_args(false);
  app.add_option("overrides", args.overrides, "dotted overrides, e.g. train.steps=100 model.depth=6");
}

}  // namespace tips::cli

int main(int argc, char** argv) {
  // Training and evaluation free and re-allocate the same large buffers every step: keep them instead of handing
  // them back to the kernel (1.5x faster steps on the 2-core CI VM; see tips/core/allocator.h).
  tips::sys::retain_freed_memory();
  CLI::App app{"tipsv2.cpp: TIPSv2 vision-language pretraining in C++ / LibTorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tipsv2.cpp ") + TIPS_VERSION);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace | debug | info | warn | error")->capture_default_str();

  auto& specs = tips::cli::registry();
  std::sort(specs.begin(), specs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<std::string, CLI::App*> apps;
  std::vector<std::pair<CLI::App*, tips::cli::Action>> actions;
  for (const auto& spec : specs) {
    CLI::App* parent = &app;
    std::string leaf = spec.name;
    if (const auto space = spec.name.find(' '); space != std::string::npos) {
      const std::string group = spec.name.substr(0, space);
      leaf = spec.name.substr(space + 1);
      if (!apps.count(group)) {
        apps[group] = app.add_subcommand(group, group + " subcommands");
        apps[group]->require_subcommand(1);
      }
      parent = apps[group];
    }
    CLI::App* sub = parent->add_subcommand(leaf, spec.description);
    apps[spec.name] = sub;
    actions.emplace_back(sub, spec.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command-line mistake exits 2, as a config mistake does.
    return app.exit(e) == 0 ? 0 : 2;
  }
  tips::log::setup(0, 1, log_level);
  try {
    for (auto& [sub, action] : actions)
      if (sub->parsed() && action) return action();
    std::cerr << app.help();
    return 1;
  } catch (const tips::Error& e) {
    spdlog::error("{}", e.full_message());
    return e.exit_code();
  } catch (const c10::Error& e) {
    spdlog::error("{}", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
