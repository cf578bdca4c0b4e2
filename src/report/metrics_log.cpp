#include "tips/report/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tips/core/error.h"

namespace tips::report {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool MetricsRecord::has(const std::string& key) const {
  return std::any_of(values.begin(), values.end(), [&](const auto& kv) { return kv.first == key; });
}

double MetricsRecord::get(const std::string& key) const {
  for (const auto& [k, v] : values)
    if (k == key) return v;
  return kNaN;
}

size_t Series::finite_count() const {
  return static_cast<size_t>(std::count_if(values.begin(), values.end(), [](double v) { return std::isfinite(v); }));
}

namespace {

std::vector<std::string> keys_of(const std::vector<MetricsRecord>& records, const std::string* event) {
  std::vector<std::string> keys;
  for (const auto& r : records) {
    if (event && r.event != *event) continue;
    for (const auto& kv : r.values)
      if (std::find(keys.begin(), keys.end(), kv.first) == keys.end()) keys.push_back(kv.first);
  }
  return keys;
}

Series series_of(const std::vector<MetricsRecord>& records, const std::string* event, const std::string& key) {
  Series s;
  s.name = key;
  for (const auto& r : records) {
    if ((event && r.event != *event) || !r.has(key)) continue;
    s.steps.push_back(r.step);
    s.values.push_back(r.get(key));
  }
  return s;
}

// A JSON value as a metric: numbers as they are, the logger's spellings of non-finite values, null as NaN.
bool to_metric(const nlohmann::ordered_json& v, double* out) {
  if (v.is_number()) {
    *out = v.get<double>();
    return true;
  }
  if (v.is_null()) {
    *out = kNaN;
    return true;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "nan" || s == "-nan") *out = kNaN;
    else if (s == "inf") *out = std::numeric_limits<double>::infinity();
    else if (s == "-inf") *out = -std::numeric_limits<double>::infinity();
    else return false;
    return true;
  }
  return false;
}

MetricsRecord parse_line(const std::string& line, const std::string& where) {
  nlohmann::ordered_json j;  // keeps the line's key order (the logger writes its keys sorted)
  try {
    j = nlohmann::ordered_json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(where + ": not a JSON line (" + e.what() + ")",
                    "metrics.jsonl holds one JSON object per line; a line cut short by a crash can be deleted");
  }
  if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
    throw DataError(where + ": expected a JSON object with an integer \"step\"",
                    "is this a metrics.jsonl written by `tips train`?");
  MetricsRecord r;
  r.step = j["step"].get<int64_t>();
  if (j.contains("event") && j["event"].is_string()) r.event = j["event"].get<std::string>();
  for (const auto& [k, v] : j.items()) {
    double x = 0;
    if (k != "step" && k != "event" && to_metric(v, &x)) r.values.emplace_back(k, x);
  }
  return r;
}

bool has_event(const std::vector<MetricsRecord>& events, const std::string& name, int64_t step) {
  return std::any_of(events.begin(), events.end(),
                     [&](const MetricsRecord& x) { return x.step == step && x.event == name; });
}

template <class Pred>
void erase_if(std::vector<MetricsRecord>& v, Pred pred) {
  v.erase(std::remove_if(v.begin(), v.end(), pred), v.end());
}

}  // namespace

std::vector<std::string> MetricsLog::train_keys() const { return keys_of(train, nullptr); }
std::vector<std::string> MetricsLog::event_keys(const std::string& event) const { return keys_of(events, &event); }
Series MetricsLog::train_series(const std::string& key) const { return series_of(train, nullptr, key); }
Series MetricsLog::event_series(const std::string& event, const std::string& key) const {
  return series_of(events, &event, key);
}
int64_t MetricsLog::count_events(const std::string& event) const {
  return std::count_if(events.begin(), events.end(), [&](const MetricsRecord& r) { return r.event == event; });
}

MetricsLog parse_metrics_log(std::istream& in, const std::string& origin) {
  MetricsLog log;
  int64_t max_step = std::numeric_limits<int64_t>::min();  // over every record kept so far
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    MetricsRecord r = parse_line(line, origin + ":" + std::to_string(line_no));
    const int64_t s = r.step;
    if (r.event.empty() && s <= max_step) {
      // Replayed after a resume: steps >= s of the earlier segment are superseded, and events at s of the earlier
      // segment came after its record at s, so they go too.
      ++log.resumes;
      erase_if(log.train, [s](const MetricsRecord& x) { return x.step >= s; });
      erase_if(log.events, [s](const MetricsRecord& x) { return x.step >= s; });
    } else if (!r.event.empty() && (s < max_step || (r.event != "skipped_step" && has_event(log.events, r.event, s)))) {
      // An event opens the new segment (e.g. a skipped step right after the checkpoint, or an eval between
      // two logged steps): the earlier segment's records past s and its same-named events at s were replayed.
      // Only a failed step is retried at one step within a segment: any other repeated event is a replay too.
      ++log.resumes;
      const std::string name = r.event;
      erase_if(log.train, [s](const MetricsRecord& x) { return x.step > s; });
      erase_if(log.events, [&](const MetricsRecord& x) { return x.step > s || (x.step == s && x.event == name); });
    }
    max_step = s;  // everything kept is now at or before s
    (r.event.empty() ? log.train : log.events).push_back(std::move(r));
  }
  return log;
}

MetricsLog read_metrics_log(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir))
    throw DataError("run directory " + run_dir.string() + " does not exist",
                    "pass the train.run_dir of a `tips train` run, e.g. runs/demo");
  const fs::path file = run_dir / "metrics.jsonl";
  std::ifstream in(file);
  if (!in)
    throw DataError("no metrics.jsonl in " + run_dir.string(),
                    "`tips train` writes it on its first logged step (train.log_every); is this a run directory?");
  MetricsLog log = parse_metrics_log(in, file.string());
  if (log.train.empty() && log.events.empty())
    throw DataError(file.string() + " is empty", "the run has not logged a step yet (train.log_every)");
  return log;
}

double median(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace tips::report
