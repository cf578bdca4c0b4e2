#include "tips/data/masking.h"

#include <algorithm>
#include <cmath>

#include "tips/core/error.h"

namespace tips::data {

namespace {
// DINOv2 gives up on a block after 10 rejected shapes; placement stops when a whole round adds nothing.
constexpr int kTriesPerBlock = 10;
}  // namespace

BlockMaskGenerator::BlockMaskGenerator(const MaskingConfig& cfg, int64_t grid_h, int64_t grid_w)
    : cfg_(cfg), grid_h_(grid_h), grid_w_(grid_w) {
  if (grid_h < 1 || grid_w < 1)
    throw ConfigError("masking: patch grid must be at least 1x1, got " + std::to_string(grid_h) + "x" +
                          std::to_string(grid_w),
                      "data.crops.global_size must be >= model patch size");
  if (!(0 <= cfg.ratio_min && cfg.ratio_min <= cfg.ratio_max && cfg.ratio_max <= 1))
    throw ConfigError("data.masking: need 0 <= ratio_min <= ratio_max <= 1, got " + std::to_string(cfg.ratio_min) +
                          ", " + std::to_string(cfg.ratio_max),
                      "TIPSv2 uses ratio_min = ratio_max = 0.75");
  if (!(cfg.aspect_min > 0 && cfg.aspect_min <= cfg.aspect_max))
    throw ConfigError("data.masking: need 0 < aspect_min <= aspect_max, got " + std::to_string(cfg.aspect_min) +
                          ", " + std::to_string(cfg.aspect_max),
                      "DINOv2 uses 0.3 and 3.3");
  if (cfg.min_block_patches < 1)
    throw ConfigError("data.masking.min_block_patches must be >= 1, got " + std::to_string(cfg.min_block_patches),
                      "DINOv2 uses 4");
}

int64_t BlockMaskGenerator::draw_target(rng::SplitMix& r) const {
  if (!r.bernoulli(cfg_.probability)) return 0;
  const double ratio = cfg_.ratio_min == cfg_.ratio_max ? cfg_.ratio_min : r.uniform(cfg_.ratio_min, cfg_.ratio_max);
  return std::llround(ratio * static_cast<double>(num_patches()));
}

std::vector<uint8_t> BlockMaskGenerator::place_blocks(int64_t target, rng::SplitMix& r,
                                                      std::vector<MaskBlock>* blocks) const {
  std::vector<uint8_t> mask(static_cast<size_t>(num_patches()), 0);
  const double log_a0 = std::log(cfg_.aspect_min), log_a1 = std::log(cfg_.aspect_max);
  int64_t count = 0;
  while (count < target) {
    const int64_t budget = target - count;
    if (budget < cfg_.min_block_patches) break;
    int64_t added = 0;
    for (int t = 0; t < kTriesPerBlock && added == 0; ++t) {
      const double area = r.uniform(static_cast<double>(cfg_.min_block_patches), static_cast<double>(budget));
      const double aspect = std::exp(r.uniform(log_a0, log_a1));  // height / width
      const int64_t h = std::llround(std::sqrt(area * aspect));
      const int64_t w = std::llround(std::sqrt(area / aspect));
      // Rounding can shrink a block below the minimum; such a shape is rejected, not clipped.
      if (h < 1 || w < 1 || h > grid_h_ || w > grid_w_ || h * w < cfg_.min_block_patches) continue;
      const int64_t top = r.randint(0, grid_h_ - h + 1);
      const int64_t left = r.randint(0, grid_w_ - w + 1);
      int64_t fresh = 0;
      for (int64_t i = top; i < top + h; ++i)
        for (int64_t j = left; j < left + w; ++j) fresh += mask[i * grid_w_ + j] == 0;
      if (fresh == 0 || fresh > budget) continue;  // would add nothing, or overshoot the target
      for (int64_t i = top; i < top + h; ++i)
        for (int64_t j = left; j < left + w; ++j) mask[i * grid_w_ + j] = 1;
      added = fresh;
      if (blocks) blocks->push_back({top, left, h, w});
    }
    if (added == 0) break;
    count += added;
  }
  return mask;
}

torch::Tensor BlockMaskGenerator::with_target(int64_t target, rng::SplitMix& r) const {
  const int64_t n = num_patches();
  TORCH_CHECK(target >= 0 && target <= n, "BlockMaskGenerator: target ", target, " outside [0, ", n, "]");
  std::vector<uint8_t> mask = place_blocks(target, r, nullptr);
  int64_t count = std::count(mask.begin(), mask.end(), uint8_t{1});
  // Top up (or trim) with a partial Fisher-Yates over the patches in the wrong state: exact count, uniform choice.
  const uint8_t want = count < target ? 1 : 0;
  std::vector<int64_t> candidates;
  for (int64_t i = 0; i < n; ++i)
    if (mask[i] != want) candidates.push_back(i);
  for (int64_t k = 0; count != target; ++k) {
    const int64_t j = r.randint(k, static_cast<int64_t>(candidates.size()));
    std::swap(candidates[k], candidates[j]);
    mask[candidates[k]] = want;
    count += want ? 1 : -1;
  }
  auto out = torch::empty({n}, torch::kBool);
  std::copy(mask.begin(), mask.end(), out.data_ptr<bool>());
  return out;
}

torch::Tensor BlockMaskGenerator::operator()(rng::SplitMix& r) const { return with_target(draw_target(r), r); }

}  // namespace tips::data
