#include "tips/eval/knn.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/rng.h"
#include "tips/eval/zero_shot_cls.h"

namespace {

using namespace tips::eval;

TEST(Knn, VotesAreTemperatureWeightedNeighbours) {
  // bank: (1,0) and (0.8,0.6) are class 0, (0,1) class 1; query (1,0) has cosines 1, 0.8, 0.
  const auto bank = torch::tensor({1.0f, 0.0f, 0.8f, 0.6f, 0.0f, 1.0f}).view({3, 2});
  const auto labels = torch::tensor({0, 0, 1}, torch::kLong);
  const auto query = torch::tensor({2.0f, 0.0f}).view({1, 2});  // not unit: normalised inside
  struct Case {
    int64_t k;
    double t;
    double v0, v1;
  };
  const std::vector<Case> cases = {
      {1, 0.5, std::exp(2.0), 0.0},
      {2, 0.5, std::exp(2.0) + std::exp(1.6), 0.0},
      {3, 0.5, std::exp(2.0) + std::exp(1.6), 1.0},
      {9, 0.1, std::exp(10.0) + std::exp(8.0), 1.0},  // k > M is clamped
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("k=" + std::to_string(c.k));
    const auto v = knn_votes(bank, labels, query, /*num_classes=*/3, {c.k, c.t});
    ASSERT_EQ(v.sizes(), (std::vector<int64_t>{1, 3}));
    EXPECT_NEAR(v[0][0].item<double>() / c.v0, 1.0, 1e-5);
    EXPECT_NEAR(v[0][1].item<double>(), c.v1, 1e-5 * std::max(1.0, c.v1));
    EXPECT_EQ(v[0][2].item<double>(), 0.0);
  }
}

TEST(Knn, TwoClustersAreClassifiedPerfectlyAcrossChunks) {
  auto gen = tips::rng::generator(3);
  const auto centres = torch::tensor({5.0f, 0.0f, 0.0f, 0.0f, 5.0f, 0.0f}).view({2, 3});
  const auto bank_labels = torch::randint(0, 2, {40}, gen, torch::kLong);
  const auto query_labels = torch::randint(0, 2, {25}, gen, torch::kLong);
  const auto bank = centres.index({bank_labels}) + torch::randn({40, 3}, gen);
  const auto queries = centres.index({query_labels}) + torch::randn({25, 3}, gen);
  const auto votes = knn_votes(bank, bank_labels, queries, 2, {/*k=*/5, /*temperature=*/0.07, /*query_chunk=*/7});
  ASSERT_EQ(votes.sizes(), (std::vector<int64_t>{25, 2}));
  EXPECT_DOUBLE_EQ(topk_accuracy(votes, query_labels, 1), 1.0);
  // Chunking must not change anything.
  EXPECT_TRUE(torch::allclose(votes, knn_votes(bank, bank_labels, queries, 2, {5, 0.07, 1000})));
}

}  // namespace
