#include "tips/report/ablation_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "../io/test_util.h"
#include "tips/core/error.h"

namespace {

using namespace tips::report;

TEST(AblationTable, MeanAndSampleStd) {
  struct Case {
    std::vector<double> values;
    double mean, std;
    int64_t n;
  };
  // std = sqrt(sum (x - mean)^2 / (n - 1)), by hand:
  //   {1,2,3,4}: squares 2.25+0.25+0.25+2.25 = 5, /3 -> sqrt(5/3) = 1.2909944
  //   {0.40,0.44}: 2 * 0.02^2 / 1 -> 0.0282843
  //   {1,NaN,3}: NaN left out -> {1,3}: 2 * 1 / 1 -> sqrt(2)
  for (const auto& c : std::vector<Case>{{{1, 2, 3, 4}, 2.5, 1.2909944, 4},
                                         {{0.40, 0.44}, 0.42, 0.0282843, 2},
                                         {{5}, 5.0, 0.0, 1},
                                         {{1, NAN, 3}, 2.0, 1.4142136, 2},
                                         {{}, 0.0, 0.0, 0}}) {
    SCOPED_TRACE(::testing::PrintToString(c.values));
    const Stat s = mean_std(c.values);
    EXPECT_EQ(s.n, c.n);
    EXPECT_NEAR(s.mean, c.mean, 1e-7);
    EXPECT_NEAR(s.std, c.std, 1e-7);
  }
}

// One results.jsonl line as scripts/ablate.sh writes it.
// Item pixels are 0.1 * (seed + 1) unless `items` >= 0.
std::string line(const std::string& row, int seed, double miou, double i2t_a, double i2t_b, double t2i, double step_s,
                 double rss, double ema, double items = -1) {
  std::ostringstream s;
  s << R"({"row": ")" << row << R"(", "seed": )" << seed << R"(, "train_s": 100, "peak_rss_mb": )" << rss
    << R"(, "step_s": )" << step_s << R"(, "eval": {"metrics": {"seg/miou": )" << miou
    << R"(, "seg/miou_all_background": 0.1, "seg/obj_miou": )" << miou / 2
    << R"(, "seg/object_pixel_acc": )" << (items >= 0 ? items : 0.1 * (seed + 1)) << R"(, "cls/top1": 0.5, "retrieval/alt_text/i2t_r1": )"
    << i2t_a
    << R"(, "retrieval/caption_medium/i2t_r1": )" << i2t_b << R"(, "retrieval/alt_text/t2i_r1": )" << t2i
    << R"(, "retrieval/caption_medium/t2i_r1": )" << t2i << R"(, "retrieval/alt_text/i2t_r5": 0.99},)"
    << R"( "per_class_iou": {"a": 0.5}, "counts": {"seg": 10}, "seconds": {"seg": 1.0}},)"
    << R"( "run_info": {"trainable_params": 1000000, "ema_params": )" << ema
    << R"(, "teacher_ema": "full", "steps": 300}})";
  return s.str();
}

TEST(AblationTable, RowsInFirstAppearanceOrderWithMeanStdAndDelta) {
  // Seeds outermost, as in ablate.sh: tips_v1 s0, +ibotpp s0, tips_v1 s1, +ibotpp s1.
  std::istringstream in(line("tips_v1", 0, 0.40, 0.2, 0.4, 0.1, 0.5, 1000, 250000) + "\n" +
                        line("+ibotpp", 0, 0.45, 0.3, 0.3, 0.2, 0.6, 1200, 0) + "\n\n" +
                        line("tips_v1", 1, 0.44, 0.4, 0.6, 0.3, 0.7, 1100, 250000) + "\n" +
                        line("+ibotpp", 1, 0.47, 0.3, 0.3, 0.2, 0.6, 1200, 0) + "\n");
  const auto runs = parse_ablation_results(in, "results.jsonl");
  ASSERT_EQ(runs.size(), 4u);
  // Retrieval R@1 is the mean over the two caption fields of each run; R@5 is not mixed in.
  EXPECT_NEAR(*runs[0].i2t_r1, 0.3, 1e-12);
  EXPECT_EQ(runs[0].retrieval_fields, (std::vector<std::string>{"alt_text", "caption_medium"}));

  const auto sum = summarize_ablation(runs);
  ASSERT_EQ(sum.rows.size(), 2u);
  const auto& v1 = sum.rows[0];
  const auto& ib = sum.rows[1];
  EXPECT_EQ(v1.name, "tips_v1");
  EXPECT_EQ(ib.name, "+ibotpp");
  EXPECT_EQ(v1.seeds, 2);
  EXPECT_NEAR(v1.miou.mean, 0.42, 1e-12);
  EXPECT_NEAR(v1.miou.std, 0.0282843, 1e-7);
  EXPECT_NEAR(v1.i2t_r1.mean, 0.4, 1e-12);  // runs: 0.3 and 0.5
  EXPECT_NEAR(v1.i2t_r1.std, 0.1414214, 1e-7);
  EXPECT_NEAR(v1.params_trained.mean, 1.25e6, 1e-6);
  EXPECT_NEAR(ib.params_trained.mean, 1.0e6, 1e-6);
  EXPECT_NEAR(v1.step_s.mean, 0.6, 1e-12);
  EXPECT_FALSE(v1.miou_delta.has_value());
  ASSERT_TRUE(ib.miou_delta.has_value());
  EXPECT_NEAR(*ib.miou_delta, 0.46 - 0.42, 1e-12);
  EXPECT_EQ(v1.knn_top1.n, 0);

  const std::string md = ablation_markdown(sum);
  SCOPED_TRACE(md);
  // tips_v1: mIoU 42.00 ± 2.83, (ref), probe and attribution –, cls 50.00 ± 0.00, i2t 40.00 ± 14.14, t2i 20.00 ± 14.14,
  // kNN –, params 1.25M, step 600 ± 141 ms, train 100 ± 0 s, RSS 1050 ± 71 MB.
  EXPECT_NE(
      md.find("| tips_v1 | 2 | 42.00 ± 2.83 | (ref) | 21.00 ± 1.41 | 15.00 ± 7.07 | (ref) | – | – | 50.00 ± 0.00 | "
              "40.00 ± 14.14 | 20.00 ± 14.14 | – | "
              "1.25M (1.00M + 0.25M EMA) | 600 ± 141 | 100 ± 0 | 1050 ± 71 |"),
      std::string::npos);
  EXPECT_NE(
      md.find("| +ibotpp | 2 | 46.00 ± 1.41 | +4.00 | 23.00 ± 0.71 | 15.00 ± 7.07 | +0.00 | – | – | 50.00 ± 0.00 | "
              "30.00 ± 0.00 | 20.00 ± 0.00 | – | "
              "1.00M (1.00M + 0.00M EMA) | 600 ± 0 | 100 ± 0 | 1200 ± 0 |"),
      std::string::npos);
  EXPECT_NE(md.find("Δ mIoU vs tips_v1"), std::string::npos);
  EXPECT_NE(md.find("alt_text, caption_medium"), std::string::npos);
  EXPECT_NE(md.find("All-background mIoU baseline: 10.00 ± 0.00 %"), std::string::npos);
  EXPECT_LT(md.find("| tips_v1 |"), md.find("| +ibotpp |"));
}

TEST(AblationTable, ItemPixelStepBeyondTwiceTheSeedSpreadIsMarked) {
  // Reference item pixels {0.10, 0.12} (std 0.01414); +a {0.20, 0.22}: +10 pp > 2 x 1.414 pp -> marked.
  // +b {0.11, 0.15} (std 0.02828): +2 pp < 2 x 2.828 pp -> not marked. +c: one seed, undecided.
  std::string text;
  for (const auto& [row, seed, items] : std::vector<std::tuple<std::string, int, double>>{
           {"ref", 0, 0.10}, {"ref", 1, 0.12}, {"+a", 0, 0.20}, {"+a", 1, 0.22}, {"+b", 0, 0.11}, {"+b", 1, 0.15},
           {"+c", 0, 0.90}})
    text += line(row, seed, 0.4, 0.2, 0.2, 0.1, 0.5, 900, 0, items) + "\n";
  std::istringstream in(text);
  const auto sum = summarize_ablation(parse_ablation_results(in, "r"));
  ASSERT_EQ(sum.rows.size(), 4u);
  EXPECT_NEAR(*sum.rows[1].item_delta, 0.10, 1e-12);
  EXPECT_TRUE(sum.rows[1].item_delta_beyond_2sd);
  EXPECT_NEAR(*sum.rows[2].item_delta, 0.02, 1e-12);
  EXPECT_FALSE(sum.rows[2].item_delta_beyond_2sd);
  EXPECT_FALSE(sum.rows[3].item_delta_beyond_2sd);
  const std::string md = ablation_markdown(sum);
  EXPECT_NE(md.find("| 21.00 ± 1.41 | +10.00 (> 2 sd) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 13.00 ± 2.83 | +2.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 90.00 | +79.00 |"), std::string::npos) << md;
}

TEST(AblationTable, ProbeAndAttributionItemPixelsGetTheirOwnColumns) {
  // Two seeds with probe figures 0.30 and 0.34 (32.00 ± 2.83) and attribution figures 0.60 and 0.70 (65.00 ± 7.07),
  // placed after the zero-shot item pixels in that order.
  std::string text;
  for (const auto& [seed, probe, attribution] :
       std::vector<std::tuple<int, double, double>>{{0, 0.30, 0.60}, {1, 0.34, 0.70}}) {
    std::string l = line("tips_v1", seed, 0.5, 0.2, 0.2, 0.1, 0.25, 900, 0, 0.12);
    const auto at = l.find(R"("cls/top1")");
    l.insert(at, R"("probe/object_pixel_acc": )" + std::to_string(probe) + R"(, "seg/attribution/object_pixel_acc": )" +
                     std::to_string(attribution) + ", ");
    text += l + "\n";
  }
  std::istringstream in(text);
  const auto sum = summarize_ablation(parse_ablation_results(in, "r"));
  ASSERT_EQ(sum.rows.size(), 1u);
  EXPECT_NEAR(sum.rows[0].probe_pixel_acc.mean, 0.32, 1e-12);
  EXPECT_NEAR(sum.rows[0].attribution_pixel_acc.mean, 0.65, 1e-12);
  const std::string md = ablation_markdown(sum);
  EXPECT_NE(md.find("| 12.00 ± 0.00 | (ref) | 32.00 ± 2.83 | 65.00 ± 7.07 | 50.00 ± 0.00 |"), std::string::npos) << md;
}

TEST(AblationTable, SingleSeedShowsTheValueAlone) {
  std::istringstream in(line("tips_v1", 3, 0.5, 0.2, 0.2, 0.1, 0.25, 900, 0) + "\n");
  const std::string md = ablation_markdown(summarize_ablation(parse_ablation_results(in, "r")));
  EXPECT_NE(md.find("| tips_v1 | 1 | 50.00 | (ref) | 25.00 | 40.00 | (ref) | – | – | 50.00 | 20.00 | 10.00 | – | 1.00M "
                    "(1.00M + 0.00M EMA) | 250 | "
                    "100 | 900 |"),
            std::string::npos)
      << md;
}

TEST(AblationTable, StepTimeAndRunInfoFromTheRunDirectory) {
  tips::testing::TempDir dir;
  const std::string run = dir.file("run_s0");
  std::filesystem::create_directories(run);
  // Median of the training records' step_s {0.2, 0.4, 0.3, 9.0} = 0.35; the event line does not count.
  tips::testing::write_text(run + "/metrics.jsonl",
                            "{\"step\": 1, \"step_s\": 0.2}\n{\"step\": 2, \"step_s\": 0.4}\n"
                            "{\"step\": 2, \"event\": \"eval\", \"step_s\": 100}\n"
                            "{\"step\": 3, \"step_s\": 0.3}\n{\"step\": 4, \"step_s\": 9.0}\n");
  tips::testing::write_text(run + "/run_info.json", R"({"trainable_params": 2000000, "ema_params": 500000})");
  tips::testing::write_text(dir.file("results.jsonl"),
                            R"({"row": "tips_v1", "seed": 0, "train_s": 10, "peak_rss_mb": 800, "run_dir": ")" + run +
                                R"(", "eval": {"metrics": {"seg/miou": 0.3}}})" + "\n");
  const auto runs = read_ablation_results(dir.file("results.jsonl"));
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_TRUE(runs[0].step_s.has_value());
  EXPECT_NEAR(*runs[0].step_s, 0.35, 1e-12);
  EXPECT_NEAR(runs[0].trainable_params.value_or(-1), 2e6, 1e-6);
  EXPECT_NEAR(runs[0].ema_params.value_or(-1), 5e5, 1e-6);
  EXPECT_FALSE(runs[0].i2t_r1.has_value());
  const std::string md = ablation_markdown(summarize_ablation(runs));
  EXPECT_NE(
      md.find("| 30.00 | (ref) | – | – | (ref) | – | – | – | – | – | – | 2.50M (2.00M + 0.50M EMA) | 350 | 10 | 800 |"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("(none evaluated)"), std::string::npos);
}

TEST(AblationTable, Errors) {
  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {"{\"row\": \"a\", \"eval\": {\"metrics\": {}}}\nnot json\n", "r.jsonl:2"},
           {"{\"seed\": 0, \"eval\": {\"metrics\": {}}}\n", "r.jsonl:1"},
           {"{\"row\": \"a\", \"seed\": 0}\n", "r.jsonl:1"},
           {"{\"row\": \"a\", \"eval\": {\"counts\": {}}}\n", "r.jsonl:1"}}) {
    SCOPED_TRACE(text);
    std::istringstream in(text);
    try {
      parse_ablation_results(in, "r.jsonl");
      ADD_FAILURE() << "no DataError";
    } catch (const tips::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(where + ":"), std::string::npos) << e.what();
    }
  }
  tips::testing::TempDir dir;
  EXPECT_THROW(read_ablation_results(dir.file("missing.jsonl")), tips::DataError);
  tips::testing::write_text(dir.file("empty.jsonl"), "\n");
  EXPECT_THROW(read_ablation_results(dir.file("empty.jsonl")), tips::DataError);
}

}  // namespace
