// tips/eval/oracle.h - the zero-shot segmentation figures of a perfect patch classifier: every patch of the eval
// grid scores each class by the share of its pixels that the class covers (background included), and the scores
// go through the same upsampling and SegScorer as a model's. What is left below 100 % is what the patch grid
// itself loses on the canvases (items that cover a patch only in part), the ceiling of any model at that grid.
//
// Example:
//   EvalResults r = evaluate_oracle(cfg.eval, cfg.model.patch_size);   // r.metrics["oracle/obj_miou"], ...
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/eval/config.h"
#include "tips/eval/evaluator.h"

namespace tips::eval {

// label_map (H, W) integer, mosaic convention (0 background, k + 1 class k) -> (1, classes + 1, grid_h, grid_w)
// float: channel 0 the background's share of each patch, channel k + 1 class k's. Patches split the map as
// adaptive average pooling does (equal parts when H, W are multiples of the grid). Labels above `classes` throw.
torch::Tensor oracle_scores(const torch::Tensor& label_map, int64_t grid_h, int64_t grid_w, int64_t classes);

// The oracle over cfg.seg_manifest (the first cfg.max_images records) at the grid of cfg.image_size / patch_size,
// scored with the background as one more class (seg_scorer.h): metrics "oracle/obj_miou",
// "oracle/object_pixel_acc", "oracle/miou", "oracle/pixel_acc", "oracle/miou_objects", "oracle/miou_all_background";
// counts["oracle"]. Class names as run_evaluations reads them. Throws ConfigError when image_size is not a multiple
// of patch_size or no seg_manifest is set, DataError for unreadable data.
EvalResults evaluate_oracle(const EvalConfig& cfg, int64_t patch_size);

}  // namespace tips::eval
