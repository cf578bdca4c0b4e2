// tips/eval/evaluator.h - every evaluation of a frozen model in one call: zero-shot segmentation (mIoU, pixel
// accuracy, all-background baseline), zero-shot classification (top-1/5), image-text retrieval (R@1/5/10 both
// ways, per caption field) and kNN classification (top-1/5). Used by `tips eval` and by the trainer's eval hook.
//
// Which split feeds what (all from EvalConfig):
//   seg_manifest       canvases + label maps + captions  -> segmentation, retrieval
//   cls_manifest       single items + labels             -> zero-shot classification, kNN queries
//   knn_bank_manifest  single items + labels             -> kNN bank
//   probe_manifest     canvases + label maps             -> the dense linear probe's fit (scored on seg_manifest)
// An empty path skips its evaluations. Every split is capped at max_images (file order).
//
// Segmentation (seg_scorer.h has the protocols): the headline figures ignore the background pixels, as ADE150 does:
// seg/obj_miou (mean IoU of the object classes) and seg/object_pixel_acc (item pixels given their own class by an
// argmax over the object classes; chance = 1 / classes). With background_class non-empty the background is also
// one more prompt class (seg/miou, seg/pixel_acc, seg/miou_objects, seg/miou_all_background: the baseline of
// predicting background everywhere), and with background_score >= -1 a constant background cosine
// (seg/miou_bg_const). The first of seg_readouts gives these names; every further readout the same figures under
// seg/<readout>/ (whole mode only).
//
// With probe_manifest set, the dense linear probe (linear_probe.h) adds probe/<name>: the same figures with the
// background as a class, from a linear classifier fitted on frozen patch tokens instead of the text prompts
// (skipped with a warning when seg_manifest is empty).
//
// Other metric names (fractions in [0, 1]): cls/top1, cls/top5, retrieval/<field>/{i2t,t2i}_r{1,5,10}, knn/top1,
// knn/top5.
//
// Example:
//   EvalResults r = run_evaluations(vit, text, tok, cfg.eval, "runs/demo/eval", cfg.text.max_len, device);
//   print_results(r);  // also written to <out_dir>/eval.json
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tips/data/tokenizer.h"
#include "tips/eval/config.h"
#include "tips/eval/encoders.h"
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

// Runs every configured evaluation on the features `enc` gives, with gradients off. Writes <out_dir>/eval.json
// and, when cfg.visualize > 0, <out_dir>/vis/seg_XXX.png. Call it on one rank only.
// Throws ConfigError when image_size / slide_window are not multiples of the patch size, DataError for
// missing or malformed data.
EvalResults run_evaluations(Encoders& enc, const EvalConfig& cfg, const std::string& out_dir);

// The same on a model's two towers (TowerEncoders: both in eval mode for the call, their training flags restored
// afterwards). The towers must already live on `device`.
EvalResults run_evaluations(model::VisionTransformer& vision, model::TextEncoder& text, const data::Tokenizer& tok,
                            const EvalConfig& cfg, const std::string& out_dir, int64_t max_len, torch::Device device);

// The class names the evaluations score: cfg.class_names, else classes.txt next to the segmentation manifest (the
// classification one when there is none); empty when no split is configured.
std::vector<std::string> eval_class_names(const EvalConfig& cfg);

// ConfigError when image_size (or, in slide mode, slide_window) is not a multiple of the patch size.
void check_eval_sizes(const EvalConfig& cfg, int64_t patch_size);

// The results as a table on stdout (percentages) via tips::log::table.
void print_results(const EvalResults& results);

}  // namespace tips::eval
