// Two Gloo ranks as separate processes (tips_dist_worker); results are checked here against values computed
// by hand or by a single-process autograd run on the concatenated batch.
#include "tips/dist/collectives.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dist_test_util.h"

namespace {

namespace tt = tips::dist::testing;

std::string dump(const std::vector<tt::RankRun>& runs) {
  std::string s;
  for (size_t i = 0; i < runs.size(); ++i) {
    s += "--- rank " + std::to_string(i) + " exit " + std::to_string(runs[i].exit_code) + " after " +
         std::to_string(runs[i].seconds) + " s:\n" + runs[i].log;
  }
  return s;
}

std::vector<torch::Tensor> load(const std::string& dir, int rank) {
  std::vector<torch::Tensor> ts;
  torch::load(ts, dir + "/rank" + std::to_string(rank) + ".pt");
  return ts;
}

tt::LaunchOptions options(const std::string& role) {
  tt::LaunchOptions o;
  o.role = role;
  o.out_dir = tt::scratch_dir(role);
  return o;
}

TEST(DistCollectives, TwoRanksGetHandComputedValues) {
  const auto o = options("collectives");
  const auto runs = tt::launch_ranks(TIPS_DIST_WORKER, o);
  for (const auto& r : runs) ASSERT_EQ(r.exit_code, 0) << dump(runs);
  const auto base = torch::arange(6, torch::kFloat32).reshape({2, 3});
  // Rank r contributes (r + 1) * x: the sum over 2 ranks is 3x, the mean 1.5x.
  const std::vector<std::pair<std::string, torch::Tensor>> want = {
      {"all_reduce_sum", base * 3},
      {"all_reduce_mean f64", torch::full({4}, 1.5, torch::kFloat64)},
      {"all_reduce_sum non-contiguous", (base * 3).t()},
      {"list[0] f32", torch::full({3}, 3.0f)},
      {"list[1] i64", torch::full({2}, int64_t(30), torch::kInt64)},
      {"list[2] f32", torch::full({2, 2}, 1.0f)},
      {"broadcast from rank 1", torch::full({3}, 20.0f)},
      {"all_gather rank-major", torch::cat({torch::arange(3, torch::kFloat32).expand({2, 3}),
                                            torch::arange(3, torch::kFloat32).expand({2, 3}) + 1})},
      {"sum_reducer", torch::full({2}, 3.0f)},
  };
  for (int rank = 0; rank < 2; ++rank) {
    const auto got = load(o.out_dir, rank);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE("rank " + std::to_string(rank) + ": " + want[i].first);
      EXPECT_EQ(got[i].scalar_type(), want[i].second.scalar_type());
      EXPECT_TRUE(torch::equal(got[i], want[i].second)) << got[i] << "\nwant\n" << want[i].second;
    }
  }
}

// Both forms: one collective per tensor, and several tensors in one collective (what a training step uses).
void expect_gather_with_grad_matches_one_process(const std::string& role) {
  SCOPED_TRACE(role);
  const auto o = options(role);
  const auto runs = tt::launch_ranks(TIPS_DIST_WORKER, o);
  for (const auto& r : runs) ASSERT_EQ(r.exit_code, 0) << dump(runs);

  // Reference: one process, the concatenated batch of both ranks, plain autograd.
  auto p = tt::make_clip_problem(/*world_size=*/2);
  auto img = torch::matmul(p.images, p.w_image);  // (W*B, D)
  auto txt = torch::matmul(p.texts, p.w_text);
  img.retain_grad();
  auto loss = tt::clip_loss(img, txt);
  loss.backward();

  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const auto got = load(o.out_dir, rank);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_NEAR(got[0].item<double>(), loss.item<double>(), 1e-12);
    EXPECT_TRUE(torch::allclose(got[1], p.w_image.grad(), /*rtol=*/1e-10, /*atol=*/1e-12))
        << got[1] << "\nwant\n" << p.w_image.grad();
    EXPECT_TRUE(torch::allclose(got[2], p.w_text.grad(), 1e-10, 1e-12));
    // GatherLayer semantics: this rank's embeddings receive the sum over both ranks' (identical) losses.
    const auto want_slice = 2.0 * img.grad().narrow(0, rank * tt::kRows, tt::kRows);
    EXPECT_TRUE(torch::allclose(got[3], want_slice, 1e-10, 1e-12)) << got[3] << "\nwant\n" << want_slice;
  }
  // The gradient really depends on the other rank's rows (a local-only loss would differ).
  auto local = tt::clip_loss(img.detach().narrow(0, 0, tt::kRows).requires_grad_(true),
                             txt.detach().narrow(0, 0, tt::kRows));
  EXPECT_GT(std::abs(local.item<double>() - loss.item<double>()), 1e-3);
}

TEST(DistCollectives, GatherWithGradMatchesSingleProcessGradients) {
  expect_gather_with_grad_matches_one_process("gather_grad");
  expect_gather_with_grad_matches_one_process("gather_grad_coalesced");
}

struct FailureCase {
  std::string role;
  std::vector<int> ranks;    // started ranks of WORLD_SIZE=2 (empty = both)
  double min_s, max_s;       // rank 0's time from the call to the DistError
  std::vector<std::string> expect;  // substrings of the DistError text (what + hint)
};

// The three launches run concurrently: the test costs one timeout, not three.
TEST(DistCollectives, DeadStuckOrMissingPeerIsADistErrorNotAHang) {
  const double timeout_s = 2.0;
  const std::string common = "another rank probably died or is stuck";
  const std::vector<FailureCase> cases = {
      {"peer_sleeps", {}, timeout_s - 0.1, timeout_s + 2.0,
       {"rank 0: collective all_reduce_sum timed out after 2 s", common, "hint: ", "raise dist.timeout_s"}},
      {"peer_exits", {}, 0.0, timeout_s + 2.0, {"rank 0: collective all_reduce_sum", common, "hint: "}},
      {"rendezvous_alone", {0}, timeout_s - 0.1, timeout_s + 4.0,
       {"rank 0: rendezvous at 127.0.0.1:", "world size 2", "hint: all 2 ranks must start"}},
  };
  std::vector<tt::Launch> launches;
  for (const auto& c : cases) {
    auto o = options(c.role);
    o.ranks = c.ranks;
    o.timeout_s = timeout_s;
    o.deadline_s = 20.0;
    launches.push_back(tt::start_ranks(TIPS_DIST_WORKER, o));
  }
  const auto dirs = [&] {
    std::vector<std::string> d;
    for (const auto& l : launches) d.push_back(l.options.out_dir);
    return d;
  }();
  const auto all_runs = tt::wait_ranks(launches);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE(c.role);
    const auto& runs = all_runs[i];
    for (const auto& r : runs) EXPECT_EQ(r.exit_code, 0) << dump(runs);  // no rank hung or crashed
    const std::string text = tt::read_text(dirs[i] + "/rank0.txt");
    ASSERT_FALSE(text.empty()) << dump(runs);
    const double seconds = std::stod(text);
    EXPECT_GE(seconds, c.min_s) << text;
    EXPECT_LE(seconds, c.max_s) << text;
    for (const auto& e : c.expect) EXPECT_NE(text.find(e), std::string::npos) << e << " not in:\n" << text;
  }
}

}  // namespace
