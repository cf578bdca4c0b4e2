#include "tips/loss/koleo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "grad_check.h"
#include "tips/core/rng.h"

namespace {

// Independent formula: normalise rows, nearest other row by Euclidean distance, -mean log distance.
double reference_koleo(const torch::Tensor& x, double eps) {
  const int64_t B = x.size(0), D = x.size(1);
  std::vector<std::vector<double>> u(B, std::vector<double>(D));
  for (int64_t i = 0; i < B; ++i) {
    double n = 0;
    for (int64_t d = 0; d < D; ++d) n += x[i][d].item<double>() * x[i][d].item<double>();
    for (int64_t d = 0; d < D; ++d) u[i][d] = x[i][d].item<double>() / std::sqrt(n);
  }
  double total = 0;
  for (int64_t i = 0; i < B; ++i) {
    double best = std::numeric_limits<double>::infinity();
    int64_t j_best = -1;
    for (int64_t j = 0; j < B; ++j) {
      if (j == i) continue;
      double dist2 = 0;
      for (int64_t d = 0; d < D; ++d) dist2 += (u[i][d] - u[j][d]) * (u[i][d] - u[j][d]);
      if (dist2 < best) best = dist2, j_best = j;
    }
    double with_eps = 0;  // pairwise_distance adds eps to the difference
    for (int64_t d = 0; d < D; ++d) with_eps += std::pow(u[i][d] - u[j_best][d] + eps, 2);
    total -= std::log(std::sqrt(with_eps) + eps);
  }
  return total / B;
}

TEST(Koleo, MatchesFloat64Loops) {
  for (int64_t b : {2, 3, 7}) {
    SCOPED_TRACE("B=" + std::to_string(b));
    auto gen = tips::rng::generator(b);
    const auto x = torch::randn({b, 5}, gen, torch::kDouble);
    EXPECT_NEAR(tips::loss::koleo_loss(x).item<double>(), reference_koleo(x, 1e-8), 1e-9);
  }
}

// Near collapse (the start of training, where KoLeo matters) float32 cosines cannot rank neighbours: rows 2 and 1
// sit 0.010000 and 0.010003 from row 0, and their float32 cosines with it round to the same value. The neighbour
// must still be the nearer one, row 2 (the float64 loops'): a float32 search took the first of the tie, row 1
// (tried).
TEST(Koleo, NearCollapsedRowsFindTheirTrueNearestNeighbour) {
  const auto x = torch::tensor({{1.0F, 0.0F, 0.0F}, {1.0F, 0.0F, 0.010003F}, {1.0F, 0.01F, 0.0F}});
  const double want = reference_koleo(x.to(torch::kDouble), 1e-8);
  EXPECT_NEAR(tips::loss::koleo_loss(x).item<double>(), want, 2e-5);
}

TEST(Koleo, SpreadOutPointsScoreLower) {
  const auto spread = torch::tensor({{1.0, 0.0}, {-1.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}});
  const auto clumped = torch::tensor({{1.0, 0.0}, {1.0, 0.1}, {0.0, 1.0}, {0.1, 1.0}});
  EXPECT_LT(tips::loss::koleo_loss(spread).item<double>(), tips::loss::koleo_loss(clumped).item<double>());
  EXPECT_NEAR(tips::loss::koleo_loss(spread).item<double>(), -std::log(std::sqrt(2.0)), 1e-6);
}

TEST(Koleo, GradientMatchesFiniteDifferences) {
  auto gen = tips::rng::generator(9);
  const auto x = torch::randn({5, 3}, gen, torch::kDouble);
  EXPECT_LT(tips::testing::max_grad_error([](const torch::Tensor& t) { return tips::loss::koleo_loss(t); }, x), 1e-6);
}

// Two ranks' shares of one batch, each searched against the gathered rows: the mean of the two losses is the
// whole batch's loss, and so is its gradient (a row's nearest neighbour may sit in the other share).
TEST(Koleo, SharesAgainstTheGatheredRowsGiveTheWholeBatch) {
  namespace L = tips::loss;
  auto gen = tips::rng::generator(11);
  const auto x = torch::randn({8, 4}, gen, torch::kDouble).requires_grad_();
  const auto whole = L::koleo_loss(x);
  const auto shared = (L::koleo_loss(x.narrow(0, 0, 4), x, 0) + L::koleo_loss(x.narrow(0, 4, 4), x, 4)) / 2;
  EXPECT_NEAR(shared.item<double>(), whole.item<double>(), 1e-12);
  EXPECT_NEAR(whole.item<double>(), reference_koleo(x.detach(), 1e-8), 1e-9);
  const auto g_whole = torch::autograd::grad({whole}, {x}, {}, /*retain_graph=*/true)[0];
  const auto g_shared = torch::autograd::grad({shared}, {x})[0];
  EXPECT_LT((g_whole - g_shared).abs().max().item<double>(), 1e-12);
  // Searching within each share alone (DINOv2's per-rank form) is a different loss on these rows.
  const auto per_share = (L::koleo_loss(x.narrow(0, 0, 4)) + L::koleo_loss(x.narrow(0, 4, 4))) / 2;
  EXPECT_GT(std::abs(per_share.item<double>() - whole.item<double>()), 1e-3);
}

TEST(Koleo, GatheredRowsMustHoldThisRanksRows) {
  const auto x = torch::randn({4, 3});
  EXPECT_THROW(tips::loss::koleo_loss(x, torch::randn({6, 3}), 3), c10::Error);  // rows 3..6 past the end
  EXPECT_THROW(tips::loss::koleo_loss(x, torch::randn({8, 2}), 0), c10::Error);  // width differs
}

}  // namespace
