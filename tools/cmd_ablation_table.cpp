// `tips ablation-table RESULTS.jsonl`: the Markdown table of scripts/ablate.sh (one row per config, mean ± std
// over seeds) on stdout. Input format: tips/report/ablation_table.h.
#include <iostream>

#include "command.h"
#include "tips/report/ablation_table.h"

namespace cmd_ablation_table {  // named, not anonymous: the CLI is compiled in unity batches

tips::cli::Registrar reg("ablation-table", "Markdown table of an ablation study's results.jsonl", [](CLI::App& app) {
  auto path = std::make_shared<std::string>();
  app.add_option("results", *path, "results.jsonl written by scripts/ablate.sh (one run per line)")->required();
  return [path] {
    const auto runs = tips::report::read_ablation_results(*path);
    std::cout << tips::report::ablation_markdown(tips::report::summarize_ablation(runs));
    return 0;
  };
});

}  // namespace cmd_ablation_table
