#include "tips/report/plot.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "../io/test_util.h"
#include "tips/core/error.h"

namespace {

using namespace tips::report;
namespace fs = std::filesystem;

// 30 logged steps: losses falling from ~8 to ~0.4 (a NaN at step 50), schedules, throughput, 3 evaluations.
MetricsLog synthetic_log(bool with_eval) {
  std::ostringstream s;
  for (int i = 1; i <= 30; ++i) {
    const int step = 10 * i;
    s << "{\"step\": " << step << ", \"loss_contrastive\": " << 4.0 / i << ", \"loss_dino\": " << 3.0 / i
      << ", \"loss_ibot\": " << (step == 50 ? std::string("\"nan\"") : std::to_string(1.0 / i))
      << ", \"loss\": " << 8.0 / i << ", \"lr\": " << 1e-4 * i << ", \"wd\": 0.04, \"grad_norm\": " << 10.0 / i
      << ", \"momentum\": " << 0.99 + 0.0003 * i << ", \"temperature\": 0.07, \"imgs_per_s\": " << 100 + i
      << ", \"data_wait_pct\": 5.0, \"step_s\": 0.64}\n";
    if (with_eval && i % 10 == 0)
      s << "{\"step\": " << step << ", \"event\": \"eval\", \"seg/miou\": " << 0.1 * i / 10
        << ", \"seg/miou_all_background\": 0.05, \"cls/top1\": 0.3, \"retrieval/alt_text/i2t_r1\": 0.2"
        << ", \"retrieval/alt_text/i2t_r5\": 0.6}\n";
  }
  std::istringstream in(s.str());
  return parse_metrics_log(in, "synthetic");
}

bool is_png(const fs::path& p) {
  const std::string head = tips::testing::read_text(p.string()).substr(0, 8);
  return head == std::string("\x89PNG\r\n\x1a\n", 8);
}

TEST(Plot, MissingGnuplotIsAClearError) {
  PlotOptions o;
  o.gnuplot = "/nonexistent/bin/gnuplot";
  EXPECT_EQ(find_gnuplot(o), "");
  o.gnuplot = "tips-no-such-gnuplot";  // looked up on PATH
  EXPECT_EQ(find_gnuplot(o), "");
  tips::testing::TempDir dir;
  try {
    render_plots(synthetic_log(false), dir.str(), o);
    ADD_FAILURE() << "no error without gnuplot";
  } catch (const tips::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot not found"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("scripts/install_deps.sh"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("gnuplot-nox"), std::string::npos) << e.hint();
  }
}

TEST(Plot, WritesPngsDataFilesAndScript) {
  if (find_gnuplot().empty()) GTEST_SKIP() << "gnuplot not installed (scripts/install_deps.sh)";
  tips::testing::TempDir dir;
  const fs::path out = fs::path(dir.str()) / "plots";
  const auto pngs = render_plots(synthetic_log(true), out);
  ASSERT_EQ(pngs.size(), 4u);
  for (const char* name : {"losses", "schedules", "throughput", "eval"}) {
    SCOPED_TRACE(name);
    const fs::path png = out / (std::string(name) + ".png");
    EXPECT_NE(std::find(pngs.begin(), pngs.end(), png), pngs.end());
    ASSERT_TRUE(fs::exists(png));
    EXPECT_TRUE(is_png(png));
    EXPECT_GT(fs::file_size(png), 5000u);  // curves drawn, not an empty canvas
    EXPECT_TRUE(fs::exists(out / (std::string(name) + ".dat")));
  }
  // The loss data: header in first-appearance order, "?" for the NaN at step 50, values as logged.
  const std::string losses = tips::testing::read_text((out / "losses.dat").string());
  EXPECT_EQ(losses.substr(0, losses.find('\n')), "# step loss_contrastive loss_dino loss_ibot loss");
  EXPECT_NE(losses.find("\n10 4 3 1 8\n"), std::string::npos) << losses;
  EXPECT_NE(losses.find("\n50 0.8 0.6 ? 1.6\n"), std::string::npos) << losses;
  // Eval values are percentages; only R@1 of retrieval is drawn.
  const std::string eval = tips::testing::read_text((out / "eval.dat").string());
  EXPECT_NE(eval.find("# step seg/miou seg/miou_all_background cls/top1 retrieval/alt_text/i2t_r1"), std::string::npos)
      << eval;
  EXPECT_NE(eval.find("\n300 30 5 30 20\n"), std::string::npos) << eval;
  EXPECT_EQ(eval.find("i2t_r5"), std::string::npos);
  // Losses span 20x and are positive: log scale; the schedules stay linear.
  const std::string gp = tips::testing::read_text((out / "plots.gp").string());
  const auto losses_at = gp.find("set output 'losses.png'"), sched_at = gp.find("set output 'schedules.png'");
  ASSERT_NE(losses_at, std::string::npos);
  ASSERT_NE(sched_at, std::string::npos);
  EXPECT_NE(gp.substr(losses_at, sched_at - losses_at).find("\nset logscale y"), std::string::npos);
  EXPECT_EQ(gp.find("\nset logscale y", sched_at), gp.find("\nset logscale y", gp.find("set title 'grad_norm'")));
}

TEST(Plot, FiguresWithoutDataAreLeftOut) {
  if (find_gnuplot().empty()) GTEST_SKIP() << "gnuplot not installed (scripts/install_deps.sh)";
  tips::testing::TempDir dir;
  const auto pngs = render_plots(synthetic_log(false), dir.str());
  ASSERT_EQ(pngs.size(), 3u);  // no eval events -> no eval.png
  EXPECT_FALSE(fs::exists(fs::path(dir.str()) / "eval.png"));

  std::istringstream all_nan("{\"step\": 1, \"loss\": \"nan\"}\n{\"step\": 2, \"loss\": \"inf\"}\n");
  EXPECT_THROW(render_plots(parse_metrics_log(all_nan, "x"), dir.str()), tips::DataError);
}

}  // namespace
