// tips/report/ablation_table.h - the ablation study of scripts/ablate.sh as a Markdown table: one row per
// config (first-appearance order), mean ± sample std over seeds. Behind `tips ablation-table RESULTS.jsonl`.
//
// Input, one JSON object per line (one per run):
//   {"row": "+ibotpp", "seed": 0, "train_s": 512.3, "peak_rss_mb": 1830,
//    "eval": <eval.json: {"metrics": {"seg/miou": ..., "retrieval/<field>/i2t_r1": ...}, ...}>,
//    "run_info": <run_info.json: {"trainable_params": ..., "ema_params": ..., ...}>,   (optional)
//    "step_s": 0.41,                                                                  (optional)
//    "run_dir": "runs/ablations/ibotpp_s0"}                                           (optional)
// Without "step_s" the median "step_s" of <run_dir>/metrics.jsonl is used, without "run_info"
// <run_dir>/run_info.json (read_ablation_results only; a missing file leaves the cell empty).
//
// Example:
//   std::cout << ablation_markdown(summarize_ablation(read_ablation_results("runs/ablations/results.jsonl")));
#pragma once
#include <cstdint>
#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace tips::report {

// Statistics of one quantity over seeds.
struct Stat {
  double mean = 0.0;
  double std = 0.0;  // sample standard deviation (n - 1 denominator); 0 for n = 1
  int64_t n = 0;     // finite values seen; 0 = no data (mean and std meaningless)
};

// Mean and sample std of the finite values (non-finite ones are left out of n).
Stat mean_std(const std::vector<double>& values);

// One training run of the study. Fractions in [0, 1] for the eval metrics.
struct AblationRun {
  std::string row;
  int64_t seed = 0;
  std::optional<double> miou;                 // eval seg/miou
  std::optional<double> miou_all_background;  // eval seg/miou_all_background
  std::optional<double> obj_miou;             // eval seg/obj_miou (object classes, background pixels ignored)
  std::optional<double> object_pixel_acc;     // eval seg/object_pixel_acc (item pixels given their class)
  std::optional<double> probe_pixel_acc;      // eval probe/object_pixel_acc (the dense linear probe's item pixels)
  std::optional<double> attribution_pixel_acc;  // eval seg/attribution/object_pixel_acc (what patches write into CLS1)
  std::optional<double> cls_top1;             // eval cls/top1
  std::optional<double> i2t_r1, t2i_r1;       // eval retrieval/<field>/{i2t,t2i}_r1, mean over fields
  std::optional<double> knn_top1;             // eval knn/top1
  std::optional<double> trainable_params;     // run_info
  std::optional<double> ema_params;           // run_info
  std::optional<double> step_s;               // median seconds per optimizer step
  std::optional<double> train_s;              // wall seconds of `tips train`
  std::optional<double> peak_rss_mb;          // peak resident memory of `tips train`
  std::vector<std::string> retrieval_fields;  // caption fields averaged into i2t_r1 / t2i_r1
  std::string run_dir;                        // "" when the line has none
};

// Parses the JSON lines (blank lines skipped); `origin` names the source in errors. Pure: no file is opened.
// Throws DataError (origin:line) for a non-JSON line, a missing "row" / "eval", or an eval without "metrics".
std::vector<AblationRun> parse_ablation_results(std::istream& in, const std::string& origin);

// parse_ablation_results on a file, then step_s / run_info filled from each run_dir where the line lacks them.
// Throws DataError when the file is missing or has no run.
std::vector<AblationRun> read_ablation_results(const std::filesystem::path& path);

// One table row: the runs of one config.
struct AblationRow {
  std::string name;
  int64_t seeds = 0;
  Stat miou, miou_all_background, obj_miou, object_pixel_acc, probe_pixel_acc, attribution_pixel_acc;  // fractions
  Stat cls_top1, i2t_r1, t2i_r1, knn_top1;                            // fractions
  Stat params_trained;                                                 // trainable + EMA parameters
  Stat trainable_params, ema_params;
  Stat step_s, train_s, peak_rss_mb;
  std::optional<double> miou_delta;  // mean miou minus the first row's, fraction; none for the first row
  std::optional<double> item_delta;  // mean object_pixel_acc minus the first row's, fraction; none for the first row
  // |item_delta| > 2 x the larger sample std of the two rows (both with >= 2 seeds): the ablation's test of a step.
  bool item_delta_beyond_2sd = false;
};

struct AblationSummary {
  std::vector<AblationRow> rows;              // first-appearance order of "row"
  std::vector<std::string> retrieval_fields;  // union over runs, sorted
};

AblationSummary summarize_ablation(const std::vector<AblationRun>& runs);

// The Markdown table (percentages with 2 decimals, "mean ± std" with two or more seeds, "–" for no data) and
// a few lines saying how to read it.
std::string ablation_markdown(const AblationSummary& summary);

}  // namespace tips::report
