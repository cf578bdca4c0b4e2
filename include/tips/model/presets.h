// tips/model/presets.h - the one table of tower sizes: official S/B/L/So400m/g (patch 14) and `tiny` for CPU.
// Vision presets use the TIPSv2 32x32 position table; the official README parameter counts
// (B 85.7M ...) correspond to a 16x16 table (set model.pos_grid: 16 to reproduce them).
#pragma once
#include <string>
#include <vector>

#include "tips/model/config.h"

namespace tips::model {

// Names accepted by vision_preset / text_preset, in size order.
const std::vector<std::string>& preset_names();

// Throws std::invalid_argument naming the valid presets when `name` is unknown.
VisionConfig vision_preset(const std::string& name);
TextConfig text_preset(const std::string& name);

}  // namespace tips::model
