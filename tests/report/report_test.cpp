#include "tips/report/report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../io/test_util.h"
#include "tips/config/config.h"
#include "tips/core/error.h"

namespace {

using namespace tips::report;
namespace fs = std::filesystem;
using tips::testing::read_text;
using tips::testing::write_text;

constexpr const char* kEvalJson = R"({
  "metrics": {"seg/miou": 0.4567, "seg/miou_all_background": 0.1234, "seg/pixel_acc": 0.8,
              "seg/miou_objects": 0.3125,
              "cls/top1": 0.625, "cls/top5": 0.95,
              "retrieval/alt_text/i2t_r1": 0.25, "retrieval/alt_text/i2t_r5": 0.5, "retrieval/alt_text/i2t_r10": 0.75,
              "retrieval/alt_text/t2i_r1": 0.2, "retrieval/alt_text/t2i_r5": 0.4, "retrieval/alt_text/t2i_r10": 0.6},
  "per_class_iou": {"background": 0.9, "T-shirt/top": 0.5, "Bag": 0.125},
  "counts": {"seg": 500, "cls": 500},
  "seconds": {"seg": 12.5}
})";

// A finished demo-like run: the demo config, run_info, 3 logged steps + 1 eval event, eval/ with 2 panels, export/.
void make_run(const fs::path& run, bool with_eval, bool with_export) {
  fs::create_directories(run);
  const auto cfg =
      tips::config::load({std::string(TIPS_SOURCE_DIR) + "/configs/demo/fashion_tiny.yaml"}, {"train.steps=300"});
  write_text((run / "config.yaml").string(), tips::config::to_yaml(cfg, /*with_docs=*/true));
  write_text((run / "run_info.json").string(),
             R"({"trainable_params": 1234567, "ema_params": 345678, "teacher_ema": "head_only", "world_size": 1,
                 "device": "cpu", "precision": "fp32", "global_batch": 64, "steps": 300})");
  write_text((run / "metrics.jsonl").string(),
             R"({"step": 100, "loss": 9.5, "loss_dino": 6.0, "imgs_per_s": 100.0, "data_wait_pct": 4.0, "step_s": 0.5}
{"step": 200, "loss": 7.25, "loss_dino": 4.5, "imgs_per_s": 120.0, "data_wait_pct": 2.0, "step_s": 0.7}
{"step": 200, "event": "eval", "seg/miou": 0.3, "cls/top1": 0.5}
{"step": 300, "loss": 7.5, "loss_dino": "nan", "imgs_per_s": 110.0, "data_wait_pct": 3.0, "step_s": 0.6}
)");
  if (with_eval) {
    fs::create_directories(run / "eval" / "vis");
    write_text((run / "eval" / "eval.json").string(), kEvalJson);
    for (const char* n : {"seg_001.png", "seg_000.png"}) write_text((run / "eval" / "vis" / n).string(), "png");
  }
  if (with_export) {
    fs::create_directories(run / "export");
    write_text((run / "export" / "image_encoder.npz").string(), std::string(1 << 20, 'x'));  // 1.0 MiB
    write_text((run / "export" / "text_encoder.npz").string(), "x");
  }
}

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

TEST(Report, CompleteRun) {
  tips::testing::TempDir dir;
  const fs::path run = fs::path(dir.str()) / "demo";
  make_run(run, /*with_eval=*/true, /*with_export=*/true);
  ReportOptions o;
  o.run_dir = run;
  o.render_plots = !find_gnuplot().empty();
  const auto r = write_report(o);
  EXPECT_EQ(r.path, run / "report.md");
  const std::string md = read_text(r.path.string());
  SCOPED_TRACE(md);
  // What was trained: the demo config (tiny preset, patch 16, width 128, depth 4) and run_info.
  EXPECT_TRUE(has(md, "| image tower | preset tiny: patch 16, width 128, depth 4, 4 heads"));
  EXPECT_TRUE(has(md, "| teacher.ema | head_only (momentum 0.99 → 1) |"));
  EXPECT_TRUE(has(md, "0.4 × ibot (iBOT++, every patch)"));
  EXPECT_TRUE(has(md, "| steps × global batch | 300 × 64 (seed 0) |"));
  EXPECT_TRUE(has(md, "| parameters | 1.23M trainable + 0.35M EMA copies |"));
  // Training summary: last step, mean step time (0.6 s x 300 = 3m00s), medians, first / final / min per term.
  EXPECT_TRUE(has(md, "| last logged step | 300 / 300 |"));
  EXPECT_TRUE(has(md, "| training time | ≈ 3m00s (mean step 0.600 s × 300 steps"));
  EXPECT_TRUE(has(md, "| images/s (median) | 110.0 |"));
  EXPECT_TRUE(has(md, "| data wait (median) | 3.0 % |"));
  EXPECT_TRUE(has(md, "| loss | 9.5 (step 100) | 7.5 (step 300) | 7.25 |"));
  EXPECT_TRUE(has(md, "| loss_dino | 6 (step 100) | nan (step 300) | 4.5 |"));
  EXPECT_TRUE(has(md, "| 200 | 30.00 | 50.00 |"));  // eval during training
  // Eval table in %, with the all-background baseline next to mIoU, retrieval per field, per-class IoU best first.
  EXPECT_TRUE(has(md, "From [`eval/eval.json`](eval/eval.json): 500 cls images, 500 seg images."));
  EXPECT_TRUE(has(md, "| zero-shot segmentation mIoU | 45.67 | all-background baseline: 12.34 % |"));
  EXPECT_TRUE(has(md, "| zero-shot classification top-1 | 62.50 |"));
  EXPECT_TRUE(has(md, "| alt_text | 25.00 | 50.00 | 75.00 | 20.00 | 40.00 | 60.00 |"));
  EXPECT_FALSE(has(md, "| seg/miou_all_background |"));  // shown next to mIoU, not twice
  EXPECT_TRUE(has(md, "| zero-shot segmentation mIoU, object classes only | 31.25 | background left out of the mean |"));
  EXPECT_FALSE(has(md, "| seg/miou_objects |"));
  EXPECT_TRUE(has(md, "| background | 90.00 |\n| T-shirt/top | 50.00 |\n| Bag | 12.50 |"));
  // Pictures with links relative to the run directory, in file-name order.
  EXPECT_LT(md.find("![seg_000](eval/vis/seg_000.png)"), md.find("![seg_001](eval/vis/seg_001.png)"));
  EXPECT_TRUE(has(md, "[`export/image_encoder.npz`](export/image_encoder.npz) (1.0 MiB)"));
  EXPECT_TRUE(has(md, "export/text_encoder.npz"));
  if (o.render_plots) {
    EXPECT_TRUE(has(md, "![losses](plots/losses.png)"));
    EXPECT_TRUE(has(md, "![eval](plots/eval.png)"));
    EXPECT_TRUE(fs::exists(run / "plots" / "losses.png"));
    EXPECT_TRUE(r.missing.empty());
    EXPECT_FALSE(has(md, "## Missing"));
  }
}

TEST(Report, MissingPiecesAreStatedNotFatal) {
  tips::testing::TempDir dir;
  const fs::path run = fs::path(dir.str()) / "run";
  fs::create_directories(run);
  write_text((run / "metrics.jsonl").string(), "{\"step\": 10, \"loss\": 3.0}\n");
  ReportOptions o;
  o.run_dir = run;
  o.plot.gnuplot = "/nonexistent/gnuplot";  // plotting fails: noted in the report
  const auto r = write_report(o);
  const std::string md = read_text(r.path.string());
  SCOPED_TRACE(md);
  EXPECT_TRUE(has(md, "No config.yaml in the run directory."));
  EXPECT_TRUE(has(md, "| loss | 3 (step 10) | 3 (step 10) | 3 |"));
  EXPECT_TRUE(has(md, "Training curves not drawn: gnuplot not found"));
  EXPECT_TRUE(has(md, "No evaluation yet"));
  EXPECT_TRUE(has(md, "No segmentation pictures"));
  EXPECT_TRUE(has(md, "No official weights"));
  EXPECT_TRUE(has(md, "## Missing"));
  EXPECT_EQ(r.missing.size(), 5u);  // config, curves, evaluation, pictures, weights
}

TEST(Report, EvalFallbackAndExplicitEvalDir) {
  tips::testing::TempDir dir;
  const fs::path run = fs::path(dir.str()) / "run";
  make_run(run, /*with_eval=*/false, /*with_export=*/false);
  // The trainer's eval hook: eval/step_N/ (no vis); the newest step wins, compared as numbers.
  for (const char* step : {"step_90", "step_300", "step_1000"}) fs::create_directories(run / "eval" / step);
  write_text((run / "eval" / "step_90" / "eval.json").string(), R"({"metrics": {"seg/miou": 0.1}})");
  write_text((run / "eval" / "step_300" / "eval.json").string(), R"({"metrics": {"seg/miou": 0.2}})");
  // Pictures of a `tips eval --visualize` whose eval.json is not there (yet): shown with the step_N metrics.
  fs::create_directories(run / "eval" / "vis");
  write_text((run / "eval" / "vis" / "seg_000.png").string(), "png");
  ReportOptions o;
  o.run_dir = run;
  o.render_plots = false;
  std::string md = read_text(write_report(o).path.string());
  EXPECT_TRUE(has(md, "From [`eval/step_300/eval.json`](eval/step_300/eval.json)")) << md;
  EXPECT_TRUE(has(md, "| zero-shot segmentation mIoU | 20.00 |  |")) << md;
  EXPECT_TRUE(has(md, "![seg_000](eval/vis/seg_000.png)")) << md;

  // --eval outside the run directory: the link climbs out of it.
  const fs::path other = fs::path(dir.str()) / "other_eval";
  fs::create_directories(other / "vis");
  write_text((other / "eval.json").string(), kEvalJson);
  write_text((other / "vis" / "seg_000.png").string(), "png");
  o.eval_dir = other;
  md = read_text(write_report(o).path.string());
  EXPECT_TRUE(has(md, "From [`../other_eval/eval.json`](../other_eval/eval.json)")) << md;
  EXPECT_TRUE(has(md, "![seg_000](../other_eval/vis/seg_000.png)")) << md;
  EXPECT_FALSE(has(md, "(eval/vis/seg_000.png)")) << md;

  o.eval_dir = fs::path(dir.str()) / "nowhere";
  EXPECT_THROW(write_report(o), tips::DataError);
}

TEST(Report, NotARunDirectory) {
  tips::testing::TempDir dir;
  ReportOptions o;
  o.run_dir = fs::path(dir.str()) / "missing";
  EXPECT_THROW(write_report(o), tips::DataError);
  o.run_dir = dir.str();  // exists, but holds nothing a run writes
  try {
    write_report(o);
    ADD_FAILURE() << "empty folder accepted";
  } catch (const tips::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("not a run directory"), std::string::npos) << e.what();
    EXPECT_FALSE(fs::exists(fs::path(dir.str()) / "report.md"));
  }
}

}  // namespace
