// tips/report/metrics_log.h - <run_dir>/metrics.jsonl read back (the file train/metrics.h writes): training
// records and events ("eval", "skipped_step", ...), with the steps a resumed run replayed resolved.
// Parsing only: plots are in report/plot.h, the run report in report/report.h.
//
// Resumed runs append to the same file and replay the steps after their checkpoint. A record whose step goes
// back behind what was already read starts a new segment, and what the earlier segment logged from there on is
// dropped (the last occurrence of a step wins). Within one segment the trainer writes, for each step s: the
// training record "step": s, then events at s (eval, and skipped_step for failed tries of step s + 1), so
// "back behind" means: a training record at s <= a step already read, an event at s < a step already read, or a
// second event of one name at one step (only skipped_step legitimately repeats: failed tries of the same step).
//
// Example:
//   const MetricsLog log = read_metrics_log("runs/demo");
//   const Series loss = log.train_series("loss");             // loss.steps[i], loss.values[i]
//   const Series miou = log.event_series("eval", "seg/miou");
#pragma once
#include <cstdint>
#include <filesystem>
#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace tips::report {

// One line of metrics.jsonl. Non-finite values (written as the strings "nan", "inf", "-inf", since JSON has no
// NaN) and null come back as non-finite doubles; other non-numeric values (strings, lists) are dropped.
struct MetricsRecord {
  int64_t step = 0;
  std::string event;                                   // "" for a training record
  std::vector<std::pair<std::string, double>> values;  // file order, without "step" and "event"
  bool has(const std::string& key) const;
  double get(const std::string& key) const;  // NaN when absent
};

// The points of one metric, ascending step. Records without the key contribute nothing; non-finite values stay.
struct Series {
  std::string name;
  std::vector<int64_t> steps;
  std::vector<double> values;
  size_t finite_count() const;
};

struct MetricsLog {
  std::vector<MetricsRecord> train;   // training records, strictly ascending step
  std::vector<MetricsRecord> events;  // events in file order (ascending step)
  int64_t resumes = 0;                // segments after the first (restarts detected)

  // Metric names of the training records, in first-appearance order.
  std::vector<std::string> train_keys() const;
  // Metric names of the events called `event`, in first-appearance order.
  std::vector<std::string> event_keys(const std::string& event) const;
  Series train_series(const std::string& key) const;
  // For the events called `event`; with several at one step (never for "eval") every one is a point.
  Series event_series(const std::string& event, const std::string& key) const;
  int64_t count_events(const std::string& event) const;
};

// Parses JSON lines; `origin` names the source in errors. Blank lines are skipped.
// Throws DataError (origin:line) for a line that is not a JSON object or lacks an integer "step".
MetricsLog parse_metrics_log(std::istream& in, const std::string& origin);

// <run_dir>/metrics.jsonl. Throws DataError when run_dir or the file is missing, or the file has no record.
MetricsLog read_metrics_log(const std::filesystem::path& run_dir);

// Median of the finite values (the mean of the middle two for an even count); NaN when there are none.
double median(std::vector<double> values);

}  // namespace tips::report
