// `tips report RUN_DIR`: RUN_DIR/report.md with what was trained, the training summary, the evaluation tables,
// the curves (drawn first, as `tips plot` does), the segmentation pictures and the exported weights.
// Missing pieces are stated in the report and listed here as warnings; see tips/report/report.h.
#include <spdlog/spdlog.h>

#include <iostream>

#include "command.h"
#include "tips/report/report.h"

namespace cmd_report {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::report::ReportOptions report;
  std::string run_dir, eval_dir;
  bool no_plots = false;
};

tips::cli::Registrar reg(
    "report", "write RUN_DIR/report.md (config, training summary, metrics, pictures)", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      app.add_option("run_dir", o->run_dir, "run directory (train.run_dir)")->required();
      app.add_option("--eval", o->eval_dir,
                     "folder with eval.json (+ vis/) (default: RUN_DIR/eval, else the newest "
                     "RUN_DIR/eval/step_*)");
      app.add_flag("--no-plots", o->no_plots, "embed the PNGs already in RUN_DIR/plots/");
      app.add_option("--gnuplot", o->report.plot.gnuplot, "gnuplot executable")->capture_default_str();
      return [o] {
        o->report.run_dir = o->run_dir;
        o->report.eval_dir = o->eval_dir;
        o->report.render_plots = !o->no_plots;
        const auto r = tips::report::write_report(o->report);
        for (const auto& m : r.missing) spdlog::warn("report: {}", m);
        std::cout << "wrote " << r.path.string() << "\n";
        return 0;
      };
    });

}  // namespace cmd_report
