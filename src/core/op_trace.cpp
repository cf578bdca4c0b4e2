#include "tips/core/op_trace.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "tips/core/error.h"

namespace tips {
namespace {

namespace prof = torch::autograd::profiler;

std::string shapes_text(const std::vector<std::vector<int64_t>>& shapes) {
  if (shapes.empty()) return "";
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shapes.size(); ++i) {
    s << (i ? ", [" : "[");
    for (size_t j = 0; j < shapes[i].size(); ++j) s << (j ? ", " : "") << shapes[i][j];
    s << "]";
  }
  s << "]";
  return s.str();
}

// One thread's push/pop events -> spans; children's time is taken off their parent's self time.
void spans_of_thread(const std::vector<prof::LegacyEvent>& events, const prof::LegacyEvent& origin,
                     std::vector<OpSpan>& out) {
  std::vector<std::pair<const prof::LegacyEvent*, size_t>> open;  // push event, index of its span in `out`
  for (const auto& e : events) {
    if (e.kind() == prof::EventKind::PushRange) {
      OpSpan span;
      span.name = e.name();
      span.shapes = shapes_text(e.shapes());
      span.thread = e.threadId();
      span.start_us = origin.cpuElapsedUs(e);
      out.push_back(std::move(span));
      open.emplace_back(&e, out.size() - 1);
    } else if (e.kind() == prof::EventKind::PopRange && !open.empty()) {
      OpSpan& span = out[open.back().second];
      span.dur_us = open.back().first->cpuElapsedUs(e);
      span.self_us += span.dur_us;
      open.pop_back();
      if (!open.empty()) out[open.back().second].self_us -= span.dur_us;
    }
  }
}

}  // namespace

OpTrace::OpTrace() {
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU,
                                                                   /*report_input_shapes=*/true));
}

OpTrace::~OpTrace() {
  if (recording_) prof::disableProfilerLegacy();
}

std::vector<OpSpan> OpTrace::stop() {
  TORCH_CHECK(recording_, "OpTrace::stop: already stopped");
  recording_ = false;
  const prof::thread_event_lists lists = prof::disableProfilerLegacy();
  const prof::LegacyEvent* origin = nullptr;  // the profiler's "__start_profile" mark
  for (const auto& list : lists)
    for (const auto& e : list)
      if (origin == nullptr && std::string(e.name()) == "__start_profile") origin = &e;
  std::vector<OpSpan> spans;
  if (origin == nullptr) return spans;
  for (const auto& list : lists) spans_of_thread(list, *origin, spans);
  return spans;
}

void write_chrome_trace(const std::vector<OpSpan>& spans, const std::string& path) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& s : spans) {
    nlohmann::json e = {{"name", s.name},  {"ph", "X"},        {"ts", s.start_us},
                        {"dur", s.dur_us}, {"pid", "CPU ops"}, {"tid", s.thread}};
    e["args"] = nlohmann::json::object();
    if (!s.shapes.empty()) e["args"]["Input Dims"] = s.shapes;
    events.push_back(std::move(e));
  }
  std::ofstream f(path);
  f << nlohmann::json{{"traceEvents", events}}.dump() << "\n";
  if (!f) throw Error("could not write the trace " + path, "check that the directory exists and is writable");
}

std::vector<OpCost> top_ops(const std::vector<OpSpan>& spans, size_t limit) {
  std::map<std::pair<std::string, std::string>, OpCost> by_key;
  for (const auto& s : spans) {
    OpCost& c = by_key[{s.name, s.shapes}];
    c.name = s.name;
    c.shapes = s.shapes;
    c.calls += 1;
    c.self_us += s.self_us;
  }
  std::vector<OpCost> rows;
  for (auto& kv : by_key) rows.push_back(std::move(kv.second));
  std::sort(rows.begin(), rows.end(), [](const OpCost& a, const OpCost& b) { return a.self_us > b.self_us; });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

}  // namespace tips
