// tips/core/schedule.h - the one reusable per-iteration schedule: linear warm-up, then a decay.
// Used for learning rate, weight decay, teacher momentum and teacher temperature.
//
// value(step): step < warmup_steps: linear from warmup_from to start;
//              afterwards: from start to end over [warmup_steps, total_steps) by `shape`.
// Example (lr): {warmup_from: 0, start: 5e-4, end: 1e-6, warmup_steps: 1000, shape: cosine}
#pragma once
#include <cstdint>

namespace tips {

enum class ScheduleShape { kCosine, kLinear, kConstant };

struct ScheduleConfig {
  double warmup_from = 0.0;            // value at step 0 when warmup_steps > 0
  double start = 0.0;                  // value at the end of warm-up
  double end = 0.0;                    // value at the last step (ignored for shape constant)
  int64_t warmup_steps = 0;            // linear warm-up length in optimizer steps
  ScheduleShape shape = ScheduleShape::kCosine;
};

// Pure function of (config, step, total_steps). step in [0, total_steps]; returns a double.
double schedule_value(const ScheduleConfig& cfg, int64_t step, int64_t total_steps);

}  // namespace tips
