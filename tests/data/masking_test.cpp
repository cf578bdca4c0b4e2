#include "tips/data/masking.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tips/core/error.h"

namespace {

using tips::data::BlockMaskGenerator;
using tips::data::MaskingConfig;

MaskingConfig fixed_ratio(double ratio) {
  MaskingConfig c;
  c.ratio_min = c.ratio_max = ratio;
  return c;
}

// 4-connected component sizes of a row-major 0/1 grid (independent flood fill, the second source of truth).
std::vector<int64_t> component_sizes(const std::vector<uint8_t>& m, int64_t h, int64_t w) {
  std::vector<uint8_t> seen(m.size(), 0);
  std::vector<int64_t> sizes;
  for (int64_t s = 0; s < h * w; ++s) {
    if (!m[s] || seen[s]) continue;
    int64_t size = 0;
    std::vector<int64_t> stack{s};
    seen[s] = 1;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++size;
      const int64_t i = p / w, j = p % w;
      const int64_t nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[0] >= h || q[1] < 0 || q[1] >= w) continue;
        const int64_t k = q[0] * w + q[1];
        if (m[k] && !seen[k]) seen[k] = 1, stack.push_back(k);
      }
    }
    sizes.push_back(size);
  }
  return sizes;
}

TEST(BlockMask, ExactCountForFixedRatio) {
  struct Case { int64_t h, w; double ratio; int64_t expected; };
  const Case cases[] = {{16, 16, 0.75, 192}, {16, 16, 0.5, 128}, {7, 7, 0.75, 37},  // 36.75 -> 37
                        {14, 10, 0.3, 42},   {16, 16, 0.0, 0},    {4, 4, 1.0, 16},  {1, 9, 0.5, 5}};  // 4.5 -> 5
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w << " ratio " << c.ratio);
    BlockMaskGenerator gen(fixed_ratio(c.ratio), c.h, c.w);
    for (uint64_t seed = 0; seed < 50; ++seed) {
      tips::rng::SplitMix r(seed);
      const auto m = gen(r);
      ASSERT_EQ(m.sizes(), torch::IntArrayRef({c.h * c.w}));
      ASSERT_EQ(m.scalar_type(), torch::kBool);
      ASSERT_EQ(m.sum().item<int64_t>(), c.expected);
    }
  }
}

TEST(BlockMask, BlocksRespectMinimumSizeAspectAndBudget) {
  struct Case { int64_t h, w; double ratio; int64_t min_block; };
  const Case cases[] = {{16, 16, 0.75, 4}, {16, 16, 0.4, 4}, {32, 32, 0.5, 16}, {12, 20, 0.6, 6}};
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w << " ratio " << c.ratio << " min " << c.min_block);
    auto cfg = fixed_ratio(c.ratio);
    cfg.min_block_patches = c.min_block;
    BlockMaskGenerator gen(cfg, c.h, c.w);
    const int64_t target = std::llround(c.ratio * c.h * c.w);
    double covered = 0;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      tips::rng::SplitMix r(seed);
      std::vector<tips::data::MaskBlock> blocks;
      const auto m = gen.place_blocks(target, r, &blocks);
      // The mask is exactly the union of the reported rectangles.
      std::vector<uint8_t> uni(m.size(), 0);
      for (const auto& b : blocks) {
        EXPECT_GE(b.height * b.width, c.min_block);
        // Aspect drawn in [0.3, 3.3]; rounding h and w to integers moves it by at most one unit each side.
        EXPECT_LE(static_cast<double>(b.height - 1) / (b.width + 1), 3.3);
        EXPECT_LE(static_cast<double>(b.width - 1) / (b.height + 1), 1 / 0.3);
        for (int64_t i = b.top; i < b.top + b.height; ++i)
          for (int64_t j = b.left; j < b.left + b.width; ++j) uni[i * c.w + j] = 1;
      }
      ASSERT_EQ(uni, m);
      const int64_t count = std::count(m.begin(), m.end(), uint8_t{1});
      EXPECT_LE(count, target);
      for (int64_t size : component_sizes(m, c.h, c.w)) EXPECT_GE(size, c.min_block);
      covered += static_cast<double>(count) / target;
    }
    // Blocks, not the random top-up, must do most of the work (a purely random mask would give 0 here).
    EXPECT_GT(covered / 40, 0.8);
  }
}

TEST(BlockMask, RatioRangeAndMaskingProbability) {
  MaskingConfig cfg;
  cfg.ratio_min = 0.1;
  cfg.ratio_max = 0.5;
  cfg.probability = 0.3;
  BlockMaskGenerator gen(cfg, 16, 16);
  const int n = 4000;
  int masked_images = 0;
  double ratio_sum = 0;
  tips::rng::SplitMix r(99);
  for (int i = 0; i < n; ++i) {
    const int64_t k = gen(r).sum().item<int64_t>();
    if (k == 0) continue;
    ++masked_images;
    ASSERT_GE(k, std::llround(0.1 * 256));
    ASSERT_LE(k, std::llround(0.5 * 256));
    ratio_sum += k / 256.0;
  }
  // Binomial(4000, 0.3): sigma = sqrt(0.21 / 4000) = 0.0072; allow 5 sigma.
  EXPECT_NEAR(masked_images / static_cast<double>(n), 0.3, 0.036);
  // Mean of U(0.1, 0.5) = 0.3, sd 0.115 / sqrt(~1200) = 0.0033; 5 sigma + rounding.
  EXPECT_NEAR(ratio_sum / masked_images, 0.3, 0.02);
}

TEST(BlockMask, DeterministicPerSeed) {
  BlockMaskGenerator gen(fixed_ratio(0.75), 16, 16);
  tips::rng::SplitMix a(5), b(5), c(6);
  const auto ma = gen(a), mb = gen(b), mc = gen(c);
  EXPECT_TRUE(torch::equal(ma, mb));
  EXPECT_FALSE(torch::equal(ma, mc));
}

TEST(BlockMask, InvalidConfigThrowsConfigError) {
  const std::function<void(MaskingConfig&)> breakers[] = {
      [](MaskingConfig& c) { c.ratio_min = 0.9; c.ratio_max = 0.5; },
      [](MaskingConfig& c) { c.aspect_min = 0; },
      [](MaskingConfig& c) { c.min_block_patches = 0; }};
  for (const auto& brk : breakers) {
    MaskingConfig c;
    brk(c);
    EXPECT_THROW(BlockMaskGenerator(c, 16, 16), tips::ConfigError);
  }
  EXPECT_THROW(BlockMaskGenerator(MaskingConfig{}, 0, 16), tips::ConfigError);
}

}  // namespace
