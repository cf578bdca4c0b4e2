#include "tips/eval/seg_scorer.h"

#include "tips/eval/zero_shot_seg.h"

namespace tips::eval {

SegScorer::SegScorer(int64_t object_classes, SegProtocol protocol)
    : classes_(object_classes), protocol_(protocol), objects_(object_classes), prompt_(object_classes + 1),
      all_background_(object_classes + 1), constant_(object_classes + 1) {
  TORCH_CHECK(object_classes >= 1, "SegScorer: need at least one object class, got ", object_classes);
}

torch::Tensor SegScorer::add(const torch::Tensor& scores, const torch::Tensor& label_map) {
  const int64_t first = protocol_.prompt_background ? 1 : 0;  // channel of object class 0
  TORCH_CHECK(scores.dim() == 4 && scores.size(0) == 1 && scores.size(1) == classes_ + first && label_map.dim() == 2,
              "SegScorer::add: scores ", scores.sizes(), " must be (1, ", classes_ + first, ", h, w) and the label map ",
              label_map.sizes(), " (H, W)");
  const auto up = upsample_scores(scores.to(torch::kFloat), label_map.size(0), label_map.size(1))[0].cpu();  // (C,H,W)
  const auto target = label_map.cpu().to(torch::kLong);                                        // 0 = background
  const auto object_scores = up.narrow(0, first, classes_);
  const auto [best_score, best_object] = object_scores.max(/*dim=*/0);                         // (H, W)
  objects_.update(best_object, segmentation_targets(target, /*with_background=*/false));
  torch::Tensor pred = best_object + 1;
  if (std::isfinite(protocol_.background_score)) {
    const auto with_const = torch::where(best_score > protocol_.background_score, best_object + 1,
                                         torch::zeros_like(best_object));
    constant_.update(with_const, target);
    pred = with_const;
  }
  if (protocol_.prompt_background) {
    pred = up.argmax(/*dim=*/0);
    prompt_.update(pred, target);
    all_background_.update(torch::zeros_like(target), target);
  }
  return pred;
}

std::map<std::string, double> SegScorer::metrics() const {
  std::map<std::string, double> m;
  m["obj_miou"] = objects_.mean_iou();
  m["object_pixel_acc"] = objects_.pixel_accuracy();
  if (std::isfinite(protocol_.background_score)) m["miou_bg_const"] = constant_.mean_iou();
  if (protocol_.prompt_background) {
    m["miou"] = prompt_.mean_iou();
    m["pixel_acc"] = prompt_.pixel_accuracy();
    m["miou_all_background"] = all_background_.mean_iou();
    // The object classes alone: with a large background the mIoU can move with the background's IoU only.
    const auto ious = prompt_.per_class_iou();
    double sum = 0;
    int64_t n = 0;
    for (size_t k = 1; k < ious.size(); ++k)
      if (std::isfinite(ious[k])) sum += ious[k], ++n;
    m["miou_objects"] = n > 0 ? sum / static_cast<double>(n) : 0.0;
  }
  return m;
}

std::vector<double> SegScorer::per_class_iou() const {
  return protocol_.prompt_background ? prompt_.per_class_iou() : objects_.per_class_iou();
}

}  // namespace tips::eval
