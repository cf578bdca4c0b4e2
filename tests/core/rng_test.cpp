#include "tips/core/rng.h"

#include <gtest/gtest.h>

#include "tips/core/schedule.h"

namespace {

TEST(Rng, DeriveIsDeterministicAndSeparatesStreams) {
  EXPECT_EQ(tips::rng::derive(7, 1, 2, 3), tips::rng::derive(7, 1, 2, 3));
  EXPECT_NE(tips::rng::derive(7, 1, 2, 3), tips::rng::derive(7, 1, 3, 2));
  EXPECT_NE(tips::rng::derive(7, 0), tips::rng::derive(8, 0));
  auto g1 = tips::rng::generator(42), g2 = tips::rng::generator(42);
  EXPECT_TRUE(torch::equal(torch::randn({5}, g1), torch::randn({5}, g2)));
}

TEST(Rng, SplitMixUniformMoments) {
  tips::rng::SplitMix r(123);
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);             // mean of U(0,1); 5 sigma ~ 0.0046
  EXPECT_NEAR(sq / n - 0.25, 1.0 / 12.0 - 0.0, 0.004);
}

TEST(Schedule, WarmupThenCosineHitsHandComputedValues) {
  tips::ScheduleConfig s{0.0, 1.0, 0.1, 10, tips::ScheduleShape::kCosine};
  EXPECT_DOUBLE_EQ(tips::schedule_value(s, 0, 110), 0.0);
  EXPECT_DOUBLE_EQ(tips::schedule_value(s, 5, 110), 0.5);
  EXPECT_DOUBLE_EQ(tips::schedule_value(s, 10, 110), 1.0);
  EXPECT_NEAR(tips::schedule_value(s, 60, 110), 0.55, 1e-12);   // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(tips::schedule_value(s, 110, 110), 0.1, 1e-12);
  s.shape = tips::ScheduleShape::kLinear;
  EXPECT_NEAR(tips::schedule_value(s, 35, 110), 1.0 - 0.9 * 0.25, 1e-12);
  s.shape = tips::ScheduleShape::kConstant;
  EXPECT_DOUBLE_EQ(tips::schedule_value(s, 90, 110), 1.0);
}

}  // namespace
