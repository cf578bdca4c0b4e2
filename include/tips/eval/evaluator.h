// tips/eval/evaluator.h - every evaluation of a frozen model in one call: zero-shot segmentation (mIoU, pixel
// accuracy, all-background baseline), zero-shot classification (top-1/5), image-text retrieval (R@1/5/10 both
// ways, per caption field) and kNN classification (top-1/5). Used by `tips eval` and by the trainer's eval hook.
//
// Which split feeds what (all from EvalConfig):
//   seg_manifest       canvases + label maps + captions  -> segmentation, retrieval
//   cls_manifest       single items + labels             -> zero-shot classification, kNN queries
//   knn_bank_manifest  single items + labels             -> kNN bank
// An empty path skips its evaluations. Every split is capped at max_images (file order).
//
// Background: with background_class non-empty (default "background") the background is one more class with
// its own prompt ensemble ("a photo of a background." ...) and is scored like any class (as in VOC21 / PC60);
// the all-background baseline tells how much of the mIoU a model gets for free. With background_class "" the
// background pixels are ignored and only the object classes count (as in PC59 / ADE150).
//
// Metric names (fractions in [0, 1]): seg/miou, seg/pixel_acc, seg/miou_all_background, seg/miou_objects (the
// object classes' mean IoU), seg/object_pixel_acc (item pixels given their own class by an argmax over the object
// classes alone: chance = 1 / classes, whatever the background does), cls/top1, cls/top5,
// retrieval/<field>/{i2t,t2i}_r{1,5,10}, knn/top1, knn/top5.
//
// Example:
//   EvalResults r = run_evaluations(vit, text, tok, cfg.eval, "runs/demo/eval", cfg.text.max_len, device);
//   print_results(r);  // also written to <out_dir>/eval.json
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "tips/data/tokenizer.h"
#include "tips/eval/config.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

namespace tips::eval {

struct EvalResults {
  std::map<std::string, double> metrics;        // flat scalars, names above
  std::map<std::string, double> per_class_iou;  // segmentation class name -> IoU (classes with a union only)
  std::map<std::string, int64_t> counts;        // images evaluated per split ("seg", "cls", "knn_bank")
  std::map<std::string, double> seconds;        // wall time per evaluation
  std::string to_json() const;                  // {"metrics": {...}, "per_class_iou": {...}, ...}
};

// Runs every configured evaluation with gradients off and both towers in eval mode (their training flags are
// restored afterwards). The towers must already live on `device`. Writes <out_dir>/eval.json and, when
// cfg.visualize > 0, <out_dir>/vis/seg_XXX.png. Call it on one rank only.
// Throws ConfigError when image_size / slide_window are not multiples of the patch size, DataError for
// missing or malformed data.
EvalResults run_evaluations(model::VisionTransformer& vision, model::TextEncoder& text, const data::Tokenizer& tok,
                            const EvalConfig& cfg, const std::string& out_dir, int64_t max_len, torch::Device device);

// The results as a table on stdout (percentages) via tips::log::table.
void print_results(const EvalResults& results);

}  // namespace tips::eval
