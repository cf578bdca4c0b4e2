#include "tips/train/metrics.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tips/core/error.h"

namespace tips::train {

void MetricRecord::set(const std::string& key, double v) {
  for (auto& [k, x] : values)
    if (k == key) {
      x = v;
      return;
    }
  values.emplace_back(key, v);
}

double MetricRecord::get(const std::string& key, double fallback) const {
  for (const auto& [k, x] : values)
    if (k == key) return x;
  return fallback;
}

void EtaEstimator::tick(double step_seconds) {
  if (times_.size() < window_) times_.push_back(step_seconds);
  else times_[next_] = step_seconds;
  next_ = (next_ + 1) % window_;
}

double EtaEstimator::eta_seconds(int64_t remaining) const {
  if (times_.empty()) return 0.0;
  std::vector<double> sorted = times_;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2] * static_cast<double>(remaining);  // median: ignores eval/checkpoint spikes
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s >= 60) std::snprintf(buf, sizeof(buf), "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof(buf), "%llds", (long long)s);
  return buf;
}

namespace {
// Rewrites `path` without the records whose "step" is above `last_step` (a line that does not parse is kept).
void drop_records_after(const std::filesystem::path& path, int64_t last_step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  int64_t dropped = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > last_step) {
      ++dropped;
      continue;
    }
    kept += line + "\n";
  }
  in.close();
  if (dropped == 0) return;
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << kept;
  std::filesystem::rename(tmp, path);
  spdlog::info("metrics.jsonl: dropped {} records logged after step {} (trained again after the resume)", dropped,
               last_step);
}

// Seconds since the epoch: TensorBoard's wall_time.
[[maybe_unused]] double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

MetricsLogger::MetricsLogger(const std::filesystem::path& run_dir, bool enabled, int64_t resumed_step,
                             bool tensorboard)
    : enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1) {
  if (!enabled_) return;
  std::filesystem::create_directories(run_dir);
  const auto path = run_dir / "metrics.jsonl";
  if (resumed_step >= 0) drop_records_after(path, resumed_step);
  out_.open(path, resumed_step >= 0 ? std::ios::app : std::ios::trunc);
  if (!out_)
    throw DataError("cannot write " + path.string(), "check that train.run_dir is writable and has free space");
  if (!tensorboard) return;
#if TIPS_HAVE_TENSORBOARD
  tb_ = std::make_unique<io::EventFileWriter>(run_dir / "tb");
  // TensorBoard drops what earlier event files of this folder logged from the START's step on: after a resume the
  // steps trained again, on a fresh start (as metrics.jsonl is rewritten) everything of an earlier run.
  tb_->session_start(resumed_step >= 0 ? resumed_step + 1 : 0, wall_seconds());
#else
  spdlog::warn("train.tensorboard=true, but this build has no protobuf: no TensorBoard event files "
               "(metrics.jsonl has every value)");
#endif
}

MetricsLogger::~MetricsLogger() = default;

namespace {
// Every value of `record` as "<prefix>/<key>" at `step`.
void write_scalars(io::EventFileWriter* tb, const std::string& prefix, int64_t step, const MetricRecord& record) {
#if TIPS_HAVE_TENSORBOARD
  if (!tb) return;
  const double now = wall_seconds();
  for (const auto& [k, v] : record.values) tb->scalar(prefix + "/" + k, step, v, now);
  tb->flush();
#endif
}
}  // namespace

namespace {
nlohmann::json to_json(int64_t step, const MetricRecord& r) {
  nlohmann::json j;
  j["step"] = step;
  for (const auto& [k, v] : r.values) {
    if (std::isfinite(v)) j[k] = v;
    else j[k] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");  // JSON has no NaN
  }
  return j;
}
}  // namespace

void MetricsLogger::log(int64_t step, int64_t total_steps, const MetricRecord& record, double eta_s) {
  if (!enabled_) return;
  out_ << to_json(step, record).dump() << "\n";
  out_.flush();
  write_scalars(tb_.get(), "train", step, record);
  std::string line;
  char buf[64];
  for (const auto& [k, v] : record.values) {
    if (k.rfind("loss", 0) != 0 && k != "lr" && k != "imgs_per_s" && k != "data_wait_pct") continue;
    std::snprintf(buf, sizeof(buf), (k == "lr") ? " %s %.2e" : " %s %.4g", k.c_str(), v);
    line += buf;
  }
  const double pct = 100.0 * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total_steps, 1));
  if (tty_) {
    const int width = 20, filled = static_cast<int>(pct / 100.0 * width);
    std::fprintf(stderr, "\r[%s%s] %5.1f%% step %lld/%lld%s ETA %s\033[K", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), pct, (long long)step, (long long)total_steps, line.c_str(),
                 format_duration(eta_s).c_str());
    if (step >= total_steps) std::fprintf(stderr, "\n");
  } else {
    spdlog::info("step {}/{} ({:.1f}%){} ETA {}", step, total_steps, pct, line, format_duration(eta_s));
  }
}

void MetricsLogger::event(int64_t step, const std::string& name, const MetricRecord& record) {
  if (!enabled_) return;
  auto j = to_json(step, record);
  j["event"] = name;
  out_ << j.dump() << "\n";
  out_.flush();
  if (name == "eval") write_scalars(tb_.get(), "eval", step, record);
}

}  // namespace tips::train
