// tips/report/plot.h - PNG curves of a run's metrics.jsonl, drawn by gnuplot (Debian gnuplot-nox, terminal
// pngcairo) run as a child process. Behind `tips plot RUN_DIR` and the pictures of `tips report`.
//
// Figures (a figure, or a panel, with no finite data is left out):
//   losses.png      every loss term (loss, loss_*) against step; log y when all values are > 0 and span >= 10x
//   schedules.png   lr, wd, momentum, temperature (and any other *temp* key), one panel each
//   throughput.png  imgs_per_s, data_wait_pct, grad_norm, step_s and memory keys (*mem*, *rss*), one panel each
//   eval.png        "eval" events: segmentation / classification / kNN (%), and retrieval R@1 (%)
// Next to each PNG goes the data file gnuplot reads (<figure>.dat: a "# step key..." header, one row per step,
// "?" for a missing or non-finite value), the one script for all of them, plots.gp (rerun it with
// `cd <out_dir> && gnuplot plots.gp` after editing), and gnuplot's own output, gnuplot.log.
//
// Example:
//   const auto pngs = render_plots(read_metrics_log("runs/demo"), "runs/demo/plots");
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tips/report/metrics_log.h"

namespace tips::report {

struct PlotOptions {
  std::string gnuplot = "gnuplot";  // executable: a name looked up on PATH, or a path
  int width_px = 1000;              // width of every PNG
  int panel_height_px = 320;        // height of one row of panels
};

// Full path of the gnuplot executable, or "" when it cannot be found / is not executable.
std::string find_gnuplot(const PlotOptions& opts = {});

// Writes the figures above into out_dir (created) and returns the PNGs written, in the order above.
// Throws Error when gnuplot is missing (hint: scripts/install_deps.sh installs gnuplot-nox) or fails (its
// output in the message), DataError when out_dir cannot be written or there is nothing finite to plot.
std::vector<std::filesystem::path> render_plots(const MetricsLog& log, const std::filesystem::path& out_dir,
                                                const PlotOptions& opts = {});

}  // namespace tips::report
