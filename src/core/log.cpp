#include "tips/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>

namespace tips::log {
namespace {
int g_rank = 0;
std::string g_level = "info";
}

void setup(int rank, int world_size, const std::string& level) {
  g_rank = rank;
  g_level = level;
  const std::string name = "tips_" + std::to_string(rank);
  spdlog::drop(name);  // setup() runs again once the rank is known
  auto logger = spdlog::stderr_color_mt(name);
  const std::string rank_tag = world_size > 1 ? " [rank " + std::to_string(rank) + "]" : "";
  logger->set_pattern("[%H:%M:%S] [%^%l%$]" + rank_tag + " %v");
  auto lvl = spdlog::level::from_str(level);
  // Non-main ranks only speak up for warnings: N identical info streams help nobody.
  if (rank != 0 && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

bool is_main_rank() { return g_rank == 0; }

const std::string& level() { return g_level; }

void table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows) {
  if (!is_main_rank()) return;
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  spdlog::info("{}", title);
  for (const auto& r : rows) spdlog::info("  {:<{}}  {}", r.first, width, r.second);
}

}  // namespace tips::log
