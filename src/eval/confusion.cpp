#include "tips/eval/confusion.h"

#include <cmath>
#include <limits>

namespace tips::eval {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes), ignore_index_(ignore_index) {
  TORCH_CHECK(num_classes >= 1, "ConfusionMatrix: num_classes must be >= 1, got ", num_classes);
  counts_ = torch::zeros({num_classes, num_classes}, torch::kLong);
}

void ConfusionMatrix::update(const torch::Tensor& pred, const torch::Tensor& target) {
  TORCH_CHECK(pred.sizes() == target.sizes(), "ConfusionMatrix::update: pred ", pred.sizes(), " vs target ",
              target.sizes());
  const auto p = pred.reshape({-1}).to(torch::kCPU, torch::kLong);
  const auto t = target.reshape({-1}).to(torch::kCPU, torch::kLong);
  const auto keep = t != ignore_index_;
  const auto pk = p.masked_select(keep);
  const auto tk = t.masked_select(keep);
  if (tk.numel() == 0) return;
  TORCH_CHECK(tk.min().item<int64_t>() >= 0 && tk.max().item<int64_t>() < num_classes_,
              "ConfusionMatrix::update: target value outside [0, ", num_classes_, ") and != ignore ", ignore_index_);
  TORCH_CHECK(pk.min().item<int64_t>() >= 0 && pk.max().item<int64_t>() < num_classes_,
              "ConfusionMatrix::update: prediction outside [0, ", num_classes_, ")");
  counts_ += torch::bincount(tk * num_classes_ + pk, /*weights=*/{}, num_classes_ * num_classes_)
                 .view({num_classes_, num_classes_});
}

std::vector<double> ConfusionMatrix::per_class_iou() const {
  const auto c = counts_.to(torch::kDouble);
  const auto tp = c.diag();
  const auto uni = c.sum(1) + c.sum(0) - tp;  // target + predicted - intersection
  std::vector<double> out(static_cast<size_t>(num_classes_));
  for (int64_t k = 0; k < num_classes_; ++k) {
    const double u = uni[k].item<double>();
    out[k] = u > 0 ? tp[k].item<double>() / u : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

double ConfusionMatrix::mean_iou() const {
  double sum = 0;
  int64_t n = 0;
  for (double v : per_class_iou())
    if (std::isfinite(v)) sum += v, ++n;
  return n ? sum / static_cast<double>(n) : 0.0;
}

double ConfusionMatrix::pixel_accuracy() const {
  const double total = counts_.sum().item<double>();
  return total > 0 ? counts_.diag().sum().item<double>() / total : 0.0;
}

}  // namespace tips::eval
