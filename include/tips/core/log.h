// tips/core/log.h - logging setup (spdlog) and rank-aware helpers.
// Every rank logs warnings and errors; info lines come from rank 0 only unless verbose.
#pragma once
#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

namespace tips::log {

// Configures the default logger: "[time] [level] message", with "[rank r]" when world_size > 1.
// level: "trace" | "debug" | "info" | "warn" | "error".
void setup(int rank, int world_size, const std::string& level = "info");

// The level of the last setup() (e.g. "info"): a second setup() once the rank is known keeps --log-level.
const std::string& level();

// True on the rank that writes info lines, run files and checkpoints.
bool is_main_rank();

// Prints a two-column table (e.g. the startup "options" table), one row per entry, on rank 0.
void table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows);

}  // namespace tips::log
