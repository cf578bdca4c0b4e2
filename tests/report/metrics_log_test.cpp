#include "tips/report/metrics_log.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "../io/test_util.h"
#include "tips/core/error.h"

namespace {

using namespace tips::report;

MetricsLog parse(const std::string& text) {
  std::istringstream in(text);
  return parse_metrics_log(in, "metrics.jsonl");
}

std::vector<int64_t> steps_of(const std::vector<MetricsRecord>& records) {
  std::vector<int64_t> s;
  for (const auto& r : records) s.push_back(r.step);
  return s;
}

TEST(MetricsLog, RecordsEventsAndNonFiniteValues) {
  const auto log = parse(
      R"({"step": 10, "loss": 5.0, "loss_dino": 3.0, "lr": 0.001, "imgs_per_s": 100.0, "step_s": 0.5}
{"step": 20, "loss": "nan", "loss_dino": 2.0, "lr": 0.002, "grad_norm": "inf", "step_s": 0.4}
{"step": 20, "event": "eval", "seg/miou": 0.25, "cls/top1": 0.5}
{"step": 20, "event": "skipped_step", "loss": "nan", "grad_norm": "-inf"}

{"step": 20, "event": "skipped_step", "loss": null}
{"step": 30, "loss": 4.0, "loss_dino": 1.5, "lr": 0.003, "note": "text", "list": [1, 2]}
)");
  EXPECT_EQ(steps_of(log.train), (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(log.train_keys(),
            (std::vector<std::string>{"loss", "loss_dino", "lr", "imgs_per_s", "step_s", "grad_norm"}));
  EXPECT_EQ(log.resumes, 0);

  const Series loss = log.train_series("loss");
  ASSERT_EQ(loss.values.size(), 3u);
  EXPECT_DOUBLE_EQ(loss.values[0], 5.0);
  EXPECT_TRUE(std::isnan(loss.values[1]));
  EXPECT_DOUBLE_EQ(loss.values[2], 4.0);
  EXPECT_EQ(loss.finite_count(), 2u);
  const Series gn = log.train_series("grad_norm");  // present at step 20 only
  ASSERT_EQ(gn.steps, (std::vector<int64_t>{20}));
  EXPECT_TRUE(std::isinf(gn.values[0]) && gn.values[0] > 0);

  // Two failed tries of the same step within one segment are two events.
  EXPECT_EQ(log.count_events("skipped_step"), 2);
  EXPECT_TRUE(std::isinf(log.events[1].get("grad_norm")) && log.events[1].get("grad_norm") < 0);
  EXPECT_TRUE(std::isnan(log.events[2].get("loss")));
  EXPECT_EQ(log.event_keys("eval"), (std::vector<std::string>{"seg/miou", "cls/top1"}));
  const Series miou = log.event_series("eval", "seg/miou");
  EXPECT_EQ(miou.steps, (std::vector<int64_t>{20}));
  EXPECT_DOUBLE_EQ(miou.values[0], 0.25);
  EXPECT_FALSE(log.train[2].has("note"));
  EXPECT_TRUE(std::isnan(log.train[2].get("absent")));
}

struct ResumeCase {
  std::string name;
  std::string text;
  std::vector<int64_t> train_steps;
  std::vector<double> losses;
  std::vector<std::pair<int64_t, double>> evals;  // (step, seg/miou)
  int64_t skipped;
  int64_t resumes;
};

TEST(MetricsLog, ResumedRunKeepsTheLastOccurrenceOfEachStep) {
  const std::vector<ResumeCase> cases = {
      {"resume from step 20 after reaching 40; detected by the replayed training record",
       R"({"step": 10, "loss": 5}
{"step": 20, "loss": 4}
{"step": 20, "event": "eval", "seg/miou": 0.1}
{"step": 30, "loss": 3}
{"step": 35, "event": "skipped_step", "loss": "nan"}
{"step": 40, "loss": 2}
{"step": 30, "loss": 3.5}
{"step": 40, "loss": 2.5}
{"step": 40, "event": "eval", "seg/miou": 0.3}
{"step": 50, "loss": 1.5}
)",
       {10, 20, 30, 40, 50},
       {5, 4, 3.5, 2.5, 1.5},
       {{20, 0.1}, {40, 0.3}},
       0,
       1},
      {"eval every 5 / log every 10: the replayed eval at the old last step opens the new segment",
       R"({"step": 10, "loss": 5}
{"step": 15, "event": "eval", "seg/miou": 0.1}
{"step": 20, "loss": 4}
{"step": 25, "event": "eval", "seg/miou": 0.2}
{"step": 25, "event": "eval", "seg/miou": 0.25}
{"step": 30, "loss": 3}
)",
       {10, 20, 30},
       {5, 4, 3},
       {{15, 0.1}, {25, 0.25}},
       0,
       1},
      {"a replayed skipped step opens the new segment",
       R"({"step": 10, "loss": 5}
{"step": 20, "loss": 4}
{"step": 21, "event": "skipped_step", "loss": "nan"}
{"step": 30, "loss": 3}
{"step": 21, "event": "skipped_step", "loss": "nan"}
{"step": 30, "loss": 3.1}
)",
       {10, 20, 30},
       {5, 4, 3.1},
       {},
       1,
       1},
      {"two resumes, the second one further back than the first",
       R"({"step": 10, "loss": 5}
{"step": 20, "loss": 4}
{"step": 30, "loss": 3}
{"step": 30, "loss": 3.3}
{"step": 40, "loss": 2.2}
{"step": 20, "loss": 4.4}
{"step": 30, "loss": 3.4}
)",
       {10, 20, 30},
       {5, 4.4, 3.4},
       {},
       0,
       2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto log = parse(c.text);
    EXPECT_EQ(steps_of(log.train), c.train_steps);
    EXPECT_EQ(log.train_series("loss").values, c.losses);
    const Series ev = log.event_series("eval", "seg/miou");
    ASSERT_EQ(ev.steps.size(), c.evals.size());
    for (size_t i = 0; i < c.evals.size(); ++i) {
      EXPECT_EQ(ev.steps[i], c.evals[i].first);
      EXPECT_DOUBLE_EQ(ev.values[i], c.evals[i].second);
    }
    EXPECT_EQ(log.count_events("skipped_step"), c.skipped);
    EXPECT_EQ(log.resumes, c.resumes);
  }
}

TEST(MetricsLog, MalformedLinesNameFileAndLine) {
  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {"{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"lo", "metrics.jsonl:2"},
           {"{\"loss\": 2}\n", "metrics.jsonl:1"},
           {"\n{\"step\": \"3\"}\n", "metrics.jsonl:2"},
           {"[1, 2]\n", "metrics.jsonl:1"}}) {
    SCOPED_TRACE(text);
    try {
      parse(text);
      ADD_FAILURE() << "no DataError";
    } catch (const tips::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(where + ":"), std::string::npos) << e.what();
      EXPECT_FALSE(e.hint().empty());
    }
  }
}

TEST(MetricsLog, ReadFromRunDirectory) {
  tips::testing::TempDir dir;
  EXPECT_THROW(read_metrics_log(dir.file("no_such_run")), tips::DataError);
  EXPECT_THROW(read_metrics_log(dir.str()), tips::DataError);  // no metrics.jsonl
  tips::testing::write_text(dir.file("metrics.jsonl"), "\n\n");
  try {
    read_metrics_log(dir.str());
    ADD_FAILURE() << "empty file accepted";
  } catch (const tips::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  tips::testing::write_text(dir.file("metrics.jsonl"), "{\"step\": 7, \"loss\": 1.5}\n");
  const auto log = read_metrics_log(dir.str());
  ASSERT_EQ(log.train.size(), 1u);
  EXPECT_EQ(log.train[0].step, 7);
  EXPECT_DOUBLE_EQ(log.train[0].get("loss"), 1.5);
}

TEST(MetricsLog, Median) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({NAN, 1, INFINITY, 3}), 2.0);  // non-finite values left out
  EXPECT_TRUE(std::isnan(median({})));
  EXPECT_TRUE(std::isnan(median({NAN})));
}

}  // namespace
