// tips/eval/seg_scorer.h - the zero-shot segmentation figures of one patch readout, accumulated over canvases,
// under the three ways of treating the background:
//   objects only (ADE150 / PC59 style; the headline): background pixels are ignored and each item pixel takes the
//       argmax over the object classes: obj_miou (mean IoU of the object classes) and object_pixel_acc (the share of
//       item pixels given their own class; chance = 1 / classes).
//   background prompt (VOC21 / PC60 style): the background is one more class with its own prompt ensemble, scored
//       like the others: miou, pixel_acc, miou_objects, miou_all_background (the figure of predicting background
//       everywhere).
//   constant background (TCL style): a pixel is background unless some object class scores above a fixed
//       cosine: miou_bg_const.
// Not the features or the text embeddings (zero_shot_seg.h): this only turns score maps into figures.
//
// Legend: C channels of a score map, (h, w) patch grid, (H, W) label map.
// Example:
//   SegScorer scorer(10, {/*prompt_background=*/true, /*background_score=*/0.2});
//   for (...) scorer.add(scores /*(1, 11, h, w)*/, label_map /*(H, W)*/);
//   for (const auto& [name, value] : scorer.metrics()) results["seg/" + name] = value;
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "tips/eval/confusion.h"

namespace tips::eval {

struct SegProtocol {
  bool prompt_background = false;  // channel 0 of the score maps is a background prompt class
  double background_score = std::numeric_limits<double>::quiet_NaN();  // constant background cosine; NaN = skip
};

class SegScorer {
 public:
  SegScorer(int64_t object_classes, SegProtocol protocol);

  // scores (1, C, h, w) float: the object classes' scores, preceded by the background prompt's channel when
  // protocol.prompt_background (C = classes + 1, else C = classes). label_map (H, W) integer, mosaic convention:
  // 0 background, k + 1 object class k. The scores are upsampled bilinearly to (H, W) once.
  // Returns the predicted map (H, W) int64 in the mosaic convention: the background-prompt argmax, else the
  // constant-background one, else the object argmax (never background).
  torch::Tensor add(const torch::Tensor& scores, const torch::Tensor& label_map);

  // Every figure above that the protocol defines, as fractions in [0, 1].
  std::map<std::string, double> metrics() const;
  // IoU per class of the background-prompt protocol (C entries, background first) when it is on, else of the
  // objects-only one (object classes); NaN where a class never occurs.
  std::vector<double> per_class_iou() const;

 private:
  int64_t classes_;
  SegProtocol protocol_;
  ConfusionMatrix objects_;         // object classes, background pixels ignored
  ConfusionMatrix prompt_, all_background_, constant_;  // classes + 1, background = 0
};

}  // namespace tips::eval
