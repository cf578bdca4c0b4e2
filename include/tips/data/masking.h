// tips/data/masking.h - block-wise patch masks (iBOT / DINOv2 style) drawn from an explicit generator.
// Not the mask *token* (that lives in the ViT) and not the loss weighting (iBOT vs iBOT++ is loss/ibot.h).
//
// Rectangular blocks of >= min_block_patches patches with log-uniform aspect in [aspect_min, aspect_max] are
// placed until no block fits the remaining budget, then single random patches top the mask up, so every
// non-empty mask has exactly round(ratio * N) patches. ratio ~ U[ratio_min, ratio_max]; with probability
// 1 - `probability` an image gets no mask at all.
//
// Example:
//   tips::data::BlockMaskGenerator gen(cfg.masking, /*grid_h=*/16, /*grid_w=*/16);
//   tips::rng::SplitMix r(tips::rng::derive(seed, sample_index));
//   torch::Tensor m = gen(r);   // (256,) bool, true = masked, row-major over the 16x16 grid
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "tips/core/rng.h"
#include "tips/data/config.h"

namespace tips::data {

// One placed rectangle in patch units (rows [top, top+height), cols [left, left+width)).
struct MaskBlock {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

class BlockMaskGenerator {
 public:
  // grid_h x grid_w patches (e.g. 224 / 14 = 16). Throws ConfigError for invalid cfg values.
  BlockMaskGenerator(const MaskingConfig& cfg, int64_t grid_h, int64_t grid_w);

  int64_t num_patches() const { return grid_h_ * grid_w_; }

  // Number of patches to mask for one image: 0 with probability 1 - cfg.probability, otherwise
  // round(ratio * N) with ratio ~ U[ratio_min, ratio_max]. Consumes 1 or 2 draws.
  int64_t draw_target(rng::SplitMix& r) const;

  // Block phase only: places rectangles (each of area >= min_block_patches, never exceeding `target`
  // masked patches in total) and returns the mask as row-major bytes of size N (1 = masked).
  // `blocks` (optional) receives every rectangle that added patches, in placement order.
  std::vector<uint8_t> place_blocks(int64_t target, rng::SplitMix& r, std::vector<MaskBlock>* blocks) const;

  // Full mask: draw_target, place_blocks, then random top-up / trim to exactly `target` patches.
  // Returns (N,) bool, true = masked.
  torch::Tensor operator()(rng::SplitMix& r) const;
  torch::Tensor with_target(int64_t target, rng::SplitMix& r) const;

 private:
  MaskingConfig cfg_;
  int64_t grid_h_, grid_w_;
};

}  // namespace tips::data
