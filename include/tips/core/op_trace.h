// tips/core/op_trace.h - what a stretch of code spends its CPU time on, op by op: LibTorch's CPU profiler with the
// input shapes of every op, as a chrome trace (chrome://tracing, ui.perfetto.dev) and as a table of the costliest
// (op, shapes) pairs by self time. `tips bench train --profile` uses it.
//
//   tips::OpTrace trace;                     // records from here, on every thread the ops run on
//   run_the_steps();
//   const auto spans = trace.stop();
//   tips::write_chrome_trace(spans, "step.trace.json");
//   for (const auto& row : tips::top_ops(spans, 20)) ...
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tips {

// One op call: a span of wall time on one thread. self_us is dur_us less that of the spans nested in it (the ops
// it called), so summing self_us over spans counts every microsecond once.
struct OpSpan {
  std::string name;    // "aten::mm", "MmBackward0", ...
  std::string shapes;  // the input shapes, "[[3264, 128], [128, 512]]" ("" when the op records none)
  uint64_t thread = 0;
  double start_us = 0, dur_us = 0, self_us = 0;  // start from the first recorded event
};

// Profiles while alive (or until stop()). Only one may record at a time in a process.
class OpTrace {
 public:
  OpTrace();
  ~OpTrace();
  OpTrace(const OpTrace&) = delete;
  OpTrace& operator=(const OpTrace&) = delete;
  std::vector<OpSpan> stop();  // ends the recording and returns its spans, in start order per thread

 private:
  bool recording_ = true;
};

// Writes the spans as chrome's trace-event JSON ("X" events, the shapes in args "Input Dims"). Throws tips::Error.
void write_chrome_trace(const std::vector<OpSpan>& spans, const std::string& path);

// (op, shapes) pairs summed over calls, largest self time first; at most `limit` rows.
struct OpCost {
  std::string name, shapes;
  int64_t calls = 0;
  double self_us = 0;
};
std::vector<OpCost> top_ops(const std::vector<OpSpan>& spans, size_t limit);

}  // namespace tips
