// tips/eval/confusion.h - semantic-segmentation metrics from a confusion matrix accumulated over a split:
// mIoU (mean over classes whose union is non-zero, as mmseg / the TIPS notebook) and pixel accuracy.
// Not a per-image average: counts are summed over every image first.
//
// Example:
//   ConfusionMatrix cm(11);
//   for (...) cm.update(pred, target);          // (H, W) or (B, H, W) int64, same shape
//   double miou = cm.mean_iou();                 // in [0, 1]
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tips::eval {

class ConfusionMatrix {
 public:
  // num_classes: labels 0..num_classes-1 count; `ignore_index` pixels (in target) are skipped.
  explicit ConfusionMatrix(int64_t num_classes, int64_t ignore_index = 255);

  // pred, target: integer tensors of equal shape (any rank). target values must be in
  // [0, num_classes) or ignore_index; pred values must be in [0, num_classes) (TORCH_CHECK otherwise).
  void update(const torch::Tensor& pred, const torch::Tensor& target);

  // (num_classes, num_classes) int64, row = target class, column = predicted class.
  const torch::Tensor& counts() const { return counts_; }

  // IoU per class = TP / (TP + FP + FN); NaN where the union is zero (class absent in both).
  std::vector<double> per_class_iou() const;
  double mean_iou() const;        // mean of the finite per-class IoUs; 0 when there are none
  double pixel_accuracy() const;  // trace / total counted pixels; 0 when nothing was counted
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_;
  int64_t ignore_index_;
  torch::Tensor counts_;  // (C, C) int64 on CPU
};

}  // namespace tips::eval
