#include "tips/eval/oracle.h"

#include <cmath>
#include <limits>
#include <string>

#include "tips/core/error.h"
#include "tips/eval/eval_set.h"
#include "tips/eval/seg_scorer.h"

namespace tips::eval {

torch::Tensor oracle_scores(const torch::Tensor& label_map, int64_t grid_h, int64_t grid_w, int64_t classes) {
  TORCH_CHECK(label_map.dim() == 2 && grid_h >= 1 && grid_w >= 1 && classes >= 1, "oracle_scores: label map ",
              label_map.sizes(), ", grid ", grid_h, "x", grid_w, ", ", classes, " classes");
  const auto labels = label_map.to(torch::kLong);
  TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() <= classes,
              "oracle_scores: labels outside [0, ", classes, "]");
  const auto one_hot = torch::one_hot(labels, classes + 1).permute({2, 0, 1}).to(torch::kFloat);  // (C+1, H, W)
  return torch::adaptive_avg_pool2d(one_hot.unsqueeze(0), {grid_h, grid_w});
}

EvalResults evaluate_oracle(const EvalConfig& cfg, int64_t patch_size) {
  if (cfg.seg_manifest.empty())
    throw ConfigError("the oracle scores the segmentation split, and eval.seg_manifest is empty",
                      "set eval.seg_manifest=PATH/test.jsonl");
  check_eval_sizes(cfg, patch_size);
  const auto split = read_eval_manifest(cfg.seg_manifest, cfg.max_images);
  const auto classes = static_cast<int64_t>(eval_class_names(cfg).size());
  const int64_t grid = cfg.image_size / patch_size;
  SegScorer scorer(classes, {/*prompt_background=*/true, std::numeric_limits<double>::quiet_NaN()});
  for (size_t i = 0; i < split.records.size(); ++i) {
    const auto label = record_label_map(split, i);
    scorer.add(oracle_scores(label, grid, grid, classes), label);
  }
  EvalResults res;
  for (const auto& [name, value] : scorer.metrics()) res.metrics["oracle/" + name] = value;
  res.counts["oracle"] = static_cast<int64_t>(split.records.size());
  return res;
}

}  // namespace tips::eval
