#include "tips/eval/zero_shot_cls.h"

#include <gtest/gtest.h>

namespace {

using namespace tips::eval;

TEST(ZeroShotCls, TopKAccuracyOnHandBuiltScores) {
  // Row-wise ranking: row0 order 2,0,1 ; row1 order 0,1,2 ; row2 order 1,2,0 ; row3 order 0,2,1.
  const auto scores = torch::tensor({0.5, 0.1, 0.9, 0.8, 0.3, 0.2, 0.0, 0.7, 0.4, 0.9, 0.2, 0.6}).view({4, 3});
  const auto labels = torch::tensor({2, 1, 0, 0}, torch::kLong);  // ranks 0, 1, 2, 0
  struct Case {
    int64_t k;
    double want;
  };
  for (const auto& c : std::vector<Case>{{1, 0.5}, {2, 0.75}, {3, 1.0}, {5, 1.0}}) {
    SCOPED_TRACE("k=" + std::to_string(c.k));
    EXPECT_DOUBLE_EQ(topk_accuracy(scores, labels, c.k), c.want);
  }
}

TEST(ZeroShotCls, CosineScoresAndTokenChoice) {
  const auto images = torch::tensor({3.0f, 4.0f, 0.0f, -2.0f}).view({2, 2});
  const auto classes = torch::tensor({1.0f, 0.0f, 0.0f, 5.0f}).view({2, 2});
  const auto s = cosine_scores(images, classes);
  const std::vector<double> want{0.6, 0.8, 0.0, -1.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s.flatten()[i].item<double>(), want[i], 1e-6);

  tips::model::VisionOutput out;
  out.cls1 = torch::tensor({2.0f, 0.0f}).view({1, 2});
  out.cls2 = torch::tensor({0.0f, -3.0f}).view({1, 2});
  EXPECT_TRUE(torch::allclose(image_embedding(out, ClsToken::kCls1), torch::tensor({1.0f, 0.0f}).view({1, 2})));
  EXPECT_TRUE(torch::allclose(image_embedding(out, ClsToken::kCls2), torch::tensor({0.0f, -1.0f}).view({1, 2})));
}

}  // namespace
