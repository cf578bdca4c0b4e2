// tips/train/metrics.h - what a run reports: one JSON object per logged step in <run_dir>/metrics.jsonl,
// and a progress line (step/total, losses, images/s, data-wait %, ETA) on stderr, redrawn as a bar on a TTY.
// Only rank 0 writes; other ranks construct a disabled logger.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "tips/io/tfevents.h"

namespace tips::train {

// Ordered scalar record: insertion order is the column order of the progress line.
struct MetricRecord {
  std::vector<std::pair<std::string, double>> values;
  void set(const std::string& key, double v);
  double get(const std::string& key, double fallback = 0.0) const;
};

// ETA from a moving window of step times: robust to the slow first steps.
class EtaEstimator {
 public:
  explicit EtaEstimator(size_t window = 50) : window_(window) {}
  void tick(double step_seconds);
  // Seconds left for `remaining` steps; 0 with no data.
  double eta_seconds(int64_t remaining) const;

 private:
  size_t window_;
  std::vector<double> times_;
  size_t next_ = 0;
};

// "1h02m", "3m05s", "42s".
std::string format_duration(double seconds);

// The sinks of every logged scalar, in one place: the progress line (stderr), <run_dir>/metrics.jsonl and, with
// tensorboard=true, TensorBoard event files in <run_dir>/tb/ (tags "train/<key>" and "eval/<key>").
class MetricsLogger {
 public:
  // enabled=false (non-zero ranks): every call is a no-op. resumed_step < 0 starts a new metrics.jsonl; >= 0
  // continues the existing one after dropping its records of later steps (logged after the checkpoint the run
  // resumed from, and trained again now); TensorBoard gets a new event file per process, opened with a session
  // START at resumed_step + 1 (0 for a new run) so that TensorBoard drops what earlier files of the folder logged
  // from that step on: the steps trained again, or a whole earlier run. Throws DataError when a file cannot be
  // written. tensorboard=true in a build without protobuf logs one warning and writes no event file.
  MetricsLogger(const std::filesystem::path& run_dir, bool enabled, int64_t resumed_step, bool tensorboard = false);
  ~MetricsLogger();
  // Writes {"step": step, ...record} to metrics.jsonl (flushed) and prints the progress line.
  void log(int64_t step, int64_t total_steps, const MetricRecord& record, double eta_s);
  // A free-form event (eval results, checkpoint written, skipped step) as a JSON line with "event": name.
  void event(int64_t step, const std::string& name, const MetricRecord& record);

 private:
  bool enabled_;
  bool tty_;
  std::ofstream out_;
  std::unique_ptr<io::EventFileWriter> tb_;  // null without tensorboard
};

}  // namespace tips::train
