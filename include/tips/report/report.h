// tips/report/report.h - <run_dir>/report.md: one Markdown page per run, behind `tips report RUN_DIR` (and the
// last step of scripts/demo.sh). Reads what the run left behind and states what is missing instead of failing:
//   config.yaml + run_info.json  -> what was trained (towers, heads, loss switches, teacher EMA, steps x batch)
//   metrics.jsonl                -> training summary (first / final / min of every loss, time, images/s)
//   plots/*.png                  -> training curves, rendered first with report/plot.h (gnuplot)
//   eval/eval.json               -> metrics table (%, with the all-background mIoU baseline) and per-class IoU;
//                                   without it the newest eval/step_*/eval.json of the trainer's eval hook
//   eval/vis/*.png               -> segmentation panels written by `tips eval --visualize`
//   export/                      -> the official .npz pair
// Links are relative to run_dir, so the folder can be moved or browsed as a whole.
//
// Example:
//   const ReportResult r = write_report({"runs/demo"});   // r.path == "runs/demo/report.md"
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tips/report/plot.h"

namespace tips::report {

struct ReportOptions {
  std::filesystem::path run_dir;   // a `tips train` run directory
  std::filesystem::path eval_dir;  // folder with eval.json (+ vis/); "" = run_dir/eval, see above
  bool render_plots = true;        // draw run_dir/plots/ first; false: embed the PNGs already there
  PlotOptions plot;
  int max_pictures = 12;  // eval/vis panels embedded (the rest are counted)
};

struct ReportResult {
  std::filesystem::path path;        // run_dir/report.md
  std::vector<std::string> missing;  // one line per piece the report says is missing (also in the file)
};

// Writes run_dir/report.md (overwritten). Throws DataError when run_dir does not exist or holds none of
// config.yaml, run_info.json, metrics.jsonl (not a run directory), or when an explicit eval_dir has no eval.json.
// Missing pieces, files that cannot be parsed and a failing gnuplot are stated in the report, not thrown.
ReportResult write_report(const ReportOptions& opts);

}  // namespace tips::report
