#include "tips/loss/dino.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "grad_check.h"
#include "tips/core/rng.h"

namespace {

namespace L = tips::loss;

double at(const torch::Tensor& t, int64_t i, int64_t j) { return t[i][j].item<double>(); }
double at(const torch::Tensor& t, int64_t i, int64_t j, int64_t k) { return t[i][j][k].item<double>(); }

// Independent formula: mean over (s, t, b) of -sum_k t * log softmax(s / temp), with explicit loops.
double reference_dino(const torch::Tensor& s, const torch::Tensor& t, double temp) {
  const int64_t S = s.size(0), T = t.size(0), B = s.size(1), K = s.size(2);
  double total = 0;
  for (int64_t a = 0; a < S; ++a)
    for (int64_t c = 0; c < T; ++c)
      for (int64_t b = 0; b < B; ++b) {
        double z = 0;
        for (int64_t k = 0; k < K; ++k) z += std::exp(at(s, a, b, k) / temp);
        for (int64_t k = 0; k < K; ++k) total -= at(t, c, b, k) * (at(s, a, b, k) / temp - std::log(z));
      }
  return total / static_cast<double>(S * T * B);
}

TEST(Dino, LossMatchesFloat64Loops) {
  struct Case {
    int64_t s, t, b, k;
    double temp;
  };
  const Case cases[] = {{1, 1, 2, 3, 0.1}, {6, 1, 3, 5, 0.1}, {3, 2, 2, 4, 0.5}, {2, 2, 1, 7, 1.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE("S=" + std::to_string(c.s) + " T=" + std::to_string(c.t) + " B=" + std::to_string(c.b));
    auto gen = tips::rng::generator(c.s * 31 + c.k);
    const auto s = torch::randn({c.s, c.b, c.k}, gen, torch::kDouble);
    const auto t = torch::softmax(torch::randn({c.t, c.b, c.k}, gen, torch::kDouble), -1);
    EXPECT_NEAR(L::dino_loss(s, t, c.temp).item<double>(), reference_dino(s, t, c.temp), 1e-10);
  }
}

TEST(Dino, GradientMatchesFiniteDifferences) {
  auto gen = tips::rng::generator(2);
  const auto s = torch::randn({3, 2, 4}, gen, torch::kDouble);
  const auto t = torch::softmax(torch::randn({2, 2, 4}, gen, torch::kDouble), -1);
  EXPECT_LT(tips::testing::max_grad_error([&](const torch::Tensor& x) { return L::dino_loss(x, t, 0.1); }, s), 1e-6);
}

TEST(Dino, CenteredSoftmaxIsExact) {
  const auto logits = torch::tensor({{0.5, -0.2, 0.1}, {0.0, 0.3, -0.4}}, torch::kDouble);
  const auto center = torch::tensor({0.1, 0.0, -0.1}, torch::kDouble);
  const double temp = 0.04;
  const auto got = L::softmax_center_teacher(logits, center, temp);
  for (int64_t b = 0; b < 2; ++b) {
    double z = 0;
    for (int64_t k = 0; k < 3; ++k) z += std::exp((at(logits, b, k) - center[k].item<double>()) / temp);
    for (int64_t k = 0; k < 3; ++k) {
      SCOPED_TRACE("b=" + std::to_string(b) + " k=" + std::to_string(k));
      EXPECT_NEAR(at(got, b, k), std::exp((at(logits, b, k) - center[k].item<double>()) / temp) / z, 1e-12);
    }
  }
  EXPECT_FALSE(got.requires_grad());
}

// Second implementation: alternate exact row / column scaling in float64 with loops.
torch::Tensor reference_sinkhorn(const torch::Tensor& logits, double temp, int iters) {
  const int64_t B = logits.size(0), K = logits.size(1);
  std::vector<std::vector<double>> q(B, std::vector<double>(K));
  double total = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) total += q[b][k] = std::exp(at(logits, b, k) / temp);
  for (auto& row : q)
    for (double& v : row) v /= total;
  for (int it = 0; it < iters; ++it) {
    for (int64_t k = 0; k < K; ++k) {
      double col = 0;
      for (int64_t b = 0; b < B; ++b) col += q[b][k];
      for (int64_t b = 0; b < B; ++b) q[b][k] /= col * K;
    }
    for (auto& row : q) {
      double r = 0;
      for (double v : row) r += v;
      for (double& v : row) v /= r * B;
    }
  }
  auto out = torch::empty({B, K}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) out[b][k] = q[b][k] * B;
  return out;
}

TEST(Dino, SinkhornMatchesLoopsAndEquipartitions) {
  struct Case {
    int64_t b, k;
    int iters;
  };
  const Case cases[] = {{4, 3, 1}, {6, 4, 3}, {8, 2, 3}, {5, 5, 200}};
  for (const auto& c : cases) {
    SCOPED_TRACE("B=" + std::to_string(c.b) + " K=" + std::to_string(c.k) + " iters=" + std::to_string(c.iters));
    auto gen = tips::rng::generator(c.b + 10 * c.k);
    const auto logits = torch::rand({c.b, c.k}, gen, torch::kDouble) * 2 - 1;  // cosine-like scores
    const auto got = L::sinkhorn_knopp(logits, 0.1, c.iters);
    EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), reference_sinkhorn(logits, 0.1, c.iters), 1e-5, 1e-7));
    EXPECT_TRUE(torch::allclose(got.sum(1), torch::ones({c.b}, got.options()), 1e-5));
    if (c.iters >= 200) {  // converged: every prototype receives B / K of the mass
      EXPECT_TRUE(torch::allclose(got.sum(0), torch::full({c.k}, double(c.b) / c.k, got.options()), 1e-4));
    }
  }
}

// Two simulated ranks (threads) with a lock-step all-reduce: their halves equal one process with all rows.
class TwoRankAllReduce {
 public:
  torch::Tensor sum(int rank, const torch::Tensor& t) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t gen = generation_;
    slot_[rank] = t.clone();
    if (++arrived_ == 2) {
      result_ = slot_[0] + slot_[1];
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
    return result_.clone();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  torch::Tensor slot_[2], result_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

TEST(Dino, MeanEntropyByHand) {
  // Rows: two equal halves (ln 2), one-hot (0, with 0 log 0 = 0), uniform over 4 (ln 4): mean ln 2.
  const auto p = torch::tensor({0.5, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.25, 0.25, 0.25, 0.25}, torch::kFloat);
  EXPECT_NEAR(L::mean_entropy(p.view({3, 4})).item<float>(), std::log(2.0), 1e-6);
  // Leading dimensions are rows as well; a non-contiguous view gives the same value.
  auto gen = tips::rng::generator(5);
  const auto q = torch::softmax(torch::randn({2, 3, 7}, gen), -1);
  const double expected = (-(q * q.log()).sum(-1).mean()).item<double>();
  EXPECT_NEAR(L::mean_entropy(q).item<float>(), expected, 1e-6);
  EXPECT_NEAR(L::mean_entropy(q.transpose(0, 1)).item<float>(), expected, 1e-6);
}

TEST(Dino, SinkhornWithReducerEqualsTheGlobalBatch) {
  auto gen = tips::rng::generator(4);
  const auto logits = torch::rand({7, 5}, gen, torch::kDouble) * 2 - 1;
  const int64_t split = 3;  // unequal halves: 3 + 4 rows
  TwoRankAllReduce comm;
  torch::Tensor part[2];
  int reductions[2] = {0, 0};
  auto run = [&](int rank) {
    const auto rows = rank == 0 ? logits.narrow(0, 0, split) : logits.narrow(0, split, 7 - split);
    part[rank] = L::sinkhorn_knopp(rows, 0.1, 3, [&](const torch::Tensor& t) {
      ++reductions[rank];
      return comm.sum(rank, t);
    });
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  const auto whole = L::sinkhorn_knopp(logits, 0.1, 3);
  EXPECT_TRUE(torch::allclose(torch::cat({part[0], part[1]}), whole, 1e-12, 1e-12));
  // One collective per iteration (each costs a network round trip): the row count rides with the first one.
  EXPECT_EQ(reductions[0], 3);
  EXPECT_EQ(reductions[1], 3);
  // Without the reducer each rank would normalise its own rows only: visibly different.
  EXPECT_FALSE(torch::allclose(L::sinkhorn_knopp(logits.narrow(0, 0, split), 0.1, 3), whole.narrow(0, 0, split),
                               1e-4, 1e-6));
}

// Two problems in lockstep (the DINO and iBOT targets of a step: other row counts, prototype counts, temperatures and
// iteration counts) over two threaded ranks: each result is the two-rank sinkhorn_knopp of that problem alone, to the
// bit, and the step pays max(iters) reductions instead of their sum.
TEST(Dino, JointSinkhornEqualsSeparateProblemsWithOneReducePerIteration) {
  auto gen = tips::rng::generator(5);
  const auto a = torch::rand({7, 5}, gen) * 2 - 1, b = torch::rand({9, 6}, gen) * 2 - 1;  // float32, as in training
  const auto rows = [](const torch::Tensor& t, int rank) {
    return rank == 0 ? t.narrow(0, 0, 3) : t.narrow(0, 3, t.size(0) - 3);
  };
  TwoRankAllReduce comm;
  std::vector<torch::Tensor> joint[2], alone[2];
  int joint_reductions[2] = {0, 0}, alone_reductions[2] = {0, 0};
  auto run = [&](int rank) {
    const L::SumReducer count_joint = [&](const torch::Tensor& t) {
      ++joint_reductions[rank];
      return comm.sum(rank, t);
    };
    const L::SumReducer count_alone = [&](const torch::Tensor& t) {
      ++alone_reductions[rank];
      return comm.sum(rank, t);
    };
    joint[rank] = L::sinkhorn_knopp_joint({{rows(a, rank), 0.1, 3}, {rows(b, rank), 0.05, 2}}, count_joint);
    alone[rank] = {L::sinkhorn_knopp(rows(a, rank), 0.1, 3, count_alone),
                   L::sinkhorn_knopp(rows(b, rank), 0.05, 2, count_alone)};
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    ASSERT_EQ(joint[rank].size(), 2u);
    EXPECT_TRUE(torch::equal(joint[rank][0], alone[rank][0]));
    EXPECT_TRUE(torch::equal(joint[rank][1], alone[rank][1]));
    EXPECT_EQ(joint_reductions[rank], 3);
    EXPECT_EQ(alone_reductions[rank], 5);
  }
  // And the pair is the global-batch solution of each problem.
  EXPECT_TRUE(torch::allclose(torch::cat({joint[0][1], joint[1][1]}), L::sinkhorn_knopp(b, 0.05, 2), 1e-5, 1e-6));
}

}  // namespace
