// `tips plot RUN_DIR`: PNG curves of RUN_DIR/metrics.jsonl (losses, schedules, throughput, evaluations) into
// RUN_DIR/plots/ with gnuplot, next to the data files and the script it ran (see tips/report/plot.h).
#include <iostream>

#include "command.h"
#include "tips/report/metrics_log.h"
#include "tips/report/plot.h"

namespace cmd_plot {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  std::string run_dir;
  std::string out;  // "" = <run_dir>/plots
  tips::report::PlotOptions plot;
};

tips::cli::Registrar reg("plot", "draw a run's metrics.jsonl as PNG curves (gnuplot)", [](CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_option("run_dir", o->run_dir, "run directory (train.run_dir) with metrics.jsonl")->required();
  app.add_option("--out", o->out, "output folder (default: RUN_DIR/plots)");
  app.add_option("--gnuplot", o->plot.gnuplot, "gnuplot executable")->capture_default_str();
  app.add_option("--width", o->plot.width_px, "PNG width in pixels")
      ->check(CLI::Range(200, 8000))
      ->capture_default_str();
  return [o] {
    const std::filesystem::path run_dir = o->run_dir;
    const auto log = tips::report::read_metrics_log(run_dir);
    const auto pngs =
        tips::report::render_plots(log, o->out.empty() ? run_dir / "plots" : std::filesystem::path(o->out), o->plot);
    std::cout << log.train.size() << " logged steps, " << log.count_events("eval") << " evaluations";
    if (log.resumes > 0) std::cout << ", " << log.resumes << " resume(s)";
    std::cout << "\n";
    for (const auto& p : pngs) std::cout << "wrote " << p.string() << "\n";
    return 0;
  };
});

}  // namespace cmd_plot
