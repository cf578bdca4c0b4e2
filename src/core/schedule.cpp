#include "tips/core/schedule.h"

#include <algorithm>
#include <cmath>

namespace tips {

double schedule_value(const ScheduleConfig& cfg, int64_t step, int64_t total_steps) {
  if (step < cfg.warmup_steps) {
    return cfg.warmup_from + (cfg.start - cfg.warmup_from) * static_cast<double>(step) / cfg.warmup_steps;
  }
  const int64_t decay_steps = total_steps - cfg.warmup_steps;
  if (cfg.shape == ScheduleShape::kConstant || decay_steps <= 0) return cfg.start;
  const double p = std::clamp(static_cast<double>(step - cfg.warmup_steps) / decay_steps, 0.0, 1.0);
  if (cfg.shape == ScheduleShape::kLinear) return cfg.start + (cfg.end - cfg.start) * p;
  return cfg.end + (cfg.start - cfg.end) * 0.5 * (1.0 + std::cos(M_PI * p));
}

}  // namespace tips
