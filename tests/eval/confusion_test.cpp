#include "tips/eval/confusion.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/rng.h"

namespace {

using tips::eval::ConfusionMatrix;

torch::Tensor t2d(std::vector<int64_t> v, int64_t h, int64_t w) { return torch::tensor(v, torch::kLong).view({h, w}); }

TEST(ConfusionMatrix, HandBuiltLabelMapsGiveKnownIous) {
  struct Case {
    const char* name;
    torch::Tensor pred, target;
    int64_t classes;
    std::vector<double> iou;  // NaN = class absent from both
    double miou, pixel_acc;
  };
  const double nan = std::nan("");
  const std::vector<Case> cases = {
      // counted pixels (t, p): (0,0) (1,0) (1,1) (1,1) (2,2); one ignored pixel predicted as 2.
      // class 0: TP 1, FP 1 -> 1/2; class 1: TP 2, FN 1 -> 2/3; class 2: TP 1 -> 1; class 3 absent.
      {"mixed with ignore", t2d({0, 0, 1, 1, 2, 2}, 2, 3), t2d({0, 1, 1, 1, 2, 255}, 2, 3), 4,
       {0.5, 2.0 / 3.0, 1.0, nan}, (0.5 + 2.0 / 3.0 + 1.0) / 3.0, 4.0 / 5.0},
      {"all correct", t2d({0, 1, 2, 2}, 2, 2), t2d({0, 1, 2, 2}, 2, 2), 3, {1, 1, 1}, 1.0, 1.0},
      // every pixel of class 0 predicted as 1: both have a union, neither an intersection.
      {"all wrong", t2d({1, 1, 1, 1}, 2, 2), t2d({0, 0, 0, 0}, 2, 2), 2, {0, 0}, 0.0, 0.0},
      // class 1 covers 3 of 4 pixels, predicted everywhere: IoU 3/4, class 0 IoU 0 -> mean 3/8.
      {"all-one baseline", t2d({1, 1, 1, 1}, 2, 2), t2d({0, 1, 1, 1}, 2, 2), 2, {0, 0.75}, 0.375, 0.75},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ConfusionMatrix cm(c.classes);
    cm.update(c.pred, c.target);
    const auto iou = cm.per_class_iou();
    ASSERT_EQ(iou.size(), c.iou.size());
    for (size_t k = 0; k < iou.size(); ++k) {
      if (std::isnan(c.iou[k])) {
        EXPECT_TRUE(std::isnan(iou[k])) << "class " << k;
      } else {
        EXPECT_NEAR(iou[k], c.iou[k], 1e-12) << "class " << k;
      }
    }
    EXPECT_NEAR(cm.mean_iou(), c.miou, 1e-12);
    EXPECT_NEAR(cm.pixel_accuracy(), c.pixel_acc, 1e-12);
  }
}

TEST(ConfusionMatrix, AccumulatesOverImagesLikeOneBigImage) {
  // Split-level counts, not a mean of per-image mIoUs: compare with a brute-force loop over all pixels.
  auto gen = tips::rng::generator(7);
  const auto pred = torch::randint(0, 5, {3, 9, 11}, gen, torch::kLong);
  auto target = torch::randint(0, 5, {3, 9, 11}, gen, torch::kLong);
  target.index_put_({0, 0}, 255);
  ConfusionMatrix cm(5);
  for (int64_t i = 0; i < 3; ++i) cm.update(pred[i], target[i]);
  int64_t expected[5][5] = {};
  const auto p = pred.flatten(), t = target.flatten();
  for (int64_t i = 0; i < p.numel(); ++i)
    if (t[i].item<int64_t>() != 255) ++expected[t[i].item<int64_t>()][p[i].item<int64_t>()];
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 5; ++b) EXPECT_EQ(cm.counts()[a][b].item<int64_t>(), expected[a][b]) << a << "," << b;
}

TEST(ConfusionMatrix, RejectsOutOfRangeAndShapeMismatch) {
  ConfusionMatrix cm(3);
  EXPECT_THROW(cm.update(t2d({0, 3}, 1, 2), t2d({0, 1}, 1, 2)), c10::Error);
  EXPECT_THROW(cm.update(t2d({0, 1}, 1, 2), t2d({0, 7}, 1, 2)), c10::Error);
  EXPECT_THROW(cm.update(t2d({0, 1}, 1, 2), t2d({0, 1}, 2, 1)), c10::Error);
  EXPECT_EQ(cm.counts().sum().item<int64_t>(), 0);
  EXPECT_EQ(cm.mean_iou(), 0.0);
}

}  // namespace
