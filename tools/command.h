// tools/command.h - how a tools/cmd_*.cpp file adds a subcommand to `tips`.
//
//   static tips::cli::Registrar reg("bench data", "loader throughput vs a Python pipeline",
//       [](CLI::App& app) {
//         auto opts = std::make_shared<Opts>();
//         app.add_option("--images", opts->images, "...");
//         return [opts] { return run(*opts); };   // called after parsing; returns the exit code
//       });
//
// A name with a space ("bench data") nests under its parent ("bench"), created on demand.
// Commands throw tips::Error for user mistakes; main prints it with its hint and exits 1 (2 for config).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tips::cli {

using Action = std::function<int()>;
using Setup = std::function<Action(CLI::App&)>;

struct CommandSpec {
  std::string name;         // "train", "bench data", ...
  std::string description;  // one line for --help
  Setup setup;
};

std::vector<CommandSpec>& registry();

struct Registrar {
  Registrar(std::string name, std::string description, Setup setup) {
    registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

// Shared flags of every command that reads a run config: -c FILE (repeatable) and trailing key=value overrides.
struct ConfigArgs {
  std::vector<std::string> files;
  std::vector<std::string> overrides;
};
void add_config_args(CLI::App& app, ConfigArgs& args);

}  // namespace tips::cli
