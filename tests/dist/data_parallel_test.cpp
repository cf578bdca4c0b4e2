#include "tips/dist/data_parallel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dist_test_util.h"

namespace {

namespace tt = tips::dist::testing;
using Buckets = std::vector<std::vector<size_t>>;

TEST(PlanBuckets, Table) {
  const auto f32 = [](int64_t n) { return torch::zeros({n}); };            // 4 bytes each
  const auto f64 = [](int64_t n) { return torch::zeros({n}, torch::kFloat64); };
  struct Case {
    std::string name;
    std::vector<torch::Tensor> ts;
    int64_t bucket_bytes;
    Buckets want;
  };
  const std::vector<Case> cases = {
      {"all fit in one", {f32(2), f32(3), f32(5)}, 40, {{0, 1, 2}}},
      {"split at the byte limit", {f32(4), f32(4), f32(4)}, 32, {{0, 1}, {2}}},
      {"an oversized tensor is alone", {f32(2), f32(100), f32(2)}, 16, {{0}, {1}, {2}}},
      {"dtypes never mix, order by first index", {f32(2), f64(2), f32(2), f64(2)}, 1 << 20, {{0, 2}, {1, 3}}},
      {"empty list", {}, 16, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(tips::dist::plan_buckets(c.ts, c.bucket_bytes), c.want);
  }
}

TEST(GradSync, TwoRanksAverageBucketedGradientsAndRidersAndBroadcastRank0) {
  tt::LaunchOptions o;
  o.role = "grad_sync";
  o.out_dir = tt::scratch_dir(o.role);
  const auto runs = tt::launch_ranks(TIPS_DIST_WORKER, o);
  for (const auto& r : runs) ASSERT_EQ(r.exit_code, 0) << "rank log:\n" << r.log;

  auto params = tt::make_sync_params();
  auto tiny0 = tt::make_tiny(/*rank=*/0);
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    std::vector<torch::Tensor> got;
    torch::load(got, o.out_dir + "/rank" + std::to_string(rank) + ".pt");
    ASSERT_EQ(got.size(), 1 + 4 + 3 + 2u);
    EXPECT_EQ(got[0].item<int64_t>(), 3);  // {0}, {1, 3}, {2} with 1 MiB buckets
    for (size_t i = 0; i < 4; ++i) {
      SCOPED_TRACE("param " + std::to_string(i));
      // Mean of the two ranks' gradients; a missing gradient counts as zeros.
      auto want = torch::zeros_like(params[i]).detach();
      for (int r = 0; r < 2; ++r) {
        const auto g = tt::rank_grad(params, i, r);
        if (g.defined()) want += g;
      }
      want /= 2;
      EXPECT_EQ(got[1 + i].scalar_type(), params[i].scalar_type());
      EXPECT_TRUE(torch::allclose(got[1 + i], want, /*rtol=*/1e-6, /*atol=*/1e-7));
    }
    // broadcast_module: both ranks hold rank 0's parameters and buffers, bit for bit.
    EXPECT_TRUE(torch::equal(got[5], tiny0->w));
    EXPECT_TRUE(torch::equal(got[6], tiny0->child->v));
    EXPECT_TRUE(torch::equal(got[7], torch::full({2}, int64_t(5), torch::kInt64)));
    // The riders: rank r sent (r + 1) x the values, so the mean is 1.5 x them, in the rider's own dtype.
    EXPECT_EQ(got[8].scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(got[8], torch::tensor({1.5f, 15.0f})));
    EXPECT_TRUE(torch::equal(got[9], torch::tensor({-1.5f, 3.0f, 0.75f})));
  }
}

}  // namespace
