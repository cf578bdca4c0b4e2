// tips/model/param_count.h - analytic parameter counts of the two towers, without building a model
// (for `tips plan` and the startup log). Equal to the sum of numel() over the towers' parameters.
//
// Official sizes (vision / text), 16x16 position table: B 85.7M / 109.6M, L 303.2M / 183.9M,
// So400m 412.4M / 448.3M, g 1.1B / 389.1M. With the TIPSv2 32x32 table the vision counts are
// 86.3M / 304.0M / 413.4M / 1136M.
#pragma once
#include <cstdint>

#include "tips/model/config.h"

namespace tips::model {

// Number of scalars in a VisionTransformer built from `cfg` (all parameters are trainable).
int64_t vision_param_count(const VisionConfig& cfg);
// Number of scalars in a TextEncoder built from `cfg` (the sinusoidal position signal is not a parameter).
int64_t text_param_count(const TextConfig& cfg);

}  // namespace tips::model
