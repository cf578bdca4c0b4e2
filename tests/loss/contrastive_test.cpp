#include "tips/loss/contrastive.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "tips/core/rng.h"

namespace {

using Mat = std::vector<std::vector<double>>;

Mat to_mat(const torch::Tensor& t) {
  auto d = t.to(torch::kDouble).contiguous();
  Mat m(d.size(0), std::vector<double>(d.size(1)));
  for (int64_t i = 0; i < d.size(0); ++i)
    for (int64_t j = 0; j < d.size(1); ++j) m[i][j] = d[i][j].item<double>();
  return m;
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t k = 0; k < a.size(); ++k) ab += a[k] * b[k], aa += a[k] * a[k], bb += b[k] * b[k];
  return ab / std::sqrt(aa * bb);
}

// Independent CLIP loss: 0.5 * (mean_i CE(row i of S/tau, i) + mean_j CE(column j of S/tau, j)).
double reference_infonce(const Mat& img, const Mat& txt, double tau) {
  const size_t n = img.size();
  double i2t = 0, t2i = 0;
  for (size_t i = 0; i < n; ++i) {
    double zr = 0, zc = 0;
    for (size_t j = 0; j < n; ++j) {
      zr += std::exp(cosine(img[i], txt[j]) / tau);
      zc += std::exp(cosine(txt[i], img[j]) / tau);
    }
    i2t += std::log(zr) - cosine(img[i], txt[i]) / tau;
    t2i += std::log(zc) - cosine(txt[i], img[i]) / tau;
  }
  return 0.5 * (i2t + t2i) / n;
}

double reference_sigmoid(const Mat& img, const Mat& txt, double tau, double bias) {
  double sum = 0;
  for (size_t i = 0; i < img.size(); ++i)
    for (size_t j = 0; j < txt.size(); ++j) {
      const double z = i == j ? 1.0 : -1.0;
      sum += std::log1p(std::exp(-z * (cosine(img[i], txt[j]) / tau + bias)));
    }
  return sum / img.size();
}

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

TEST(Contrastive, SoftmaxMatchesFloat64Loops) {
  struct Case {
    int64_t b, d;
    double tau;
  };
  const Case cases[] = {{2, 3, 0.07}, {4, 5, 0.5}, {6, 2, 1.0}, {3, 8, 0.004}};
  for (const auto& c : cases) {
    SCOPED_TRACE("B=" + std::to_string(c.b) + " D=" + std::to_string(c.d) + " tau=" + std::to_string(c.tau));
    auto gen = tips::rng::generator(c.b * 100 + c.d);
    const auto img = torch::randn({c.b, c.d}, gen, torch::kDouble);
    const auto txt = torch::randn({c.b, c.d}, gen, torch::kDouble);
    const auto got = tips::loss::softmax_infonce(img, txt, scalar(c.tau));
    EXPECT_NEAR(got.loss.item<double>(), reference_infonce(to_mat(img), to_mat(txt), c.tau), 1e-9);
    EXPECT_NEAR(got.loss.item<double>(), 0.5 * (got.image_to_text + got.text_to_image).item<double>(), 1e-12);
  }
}

TEST(Contrastive, SigmoidMatchesFloat64Loops) {
  auto gen = tips::rng::generator(3);
  const auto img = torch::randn({5, 4}, gen, torch::kDouble);
  const auto txt = torch::randn({5, 4}, gen, torch::kDouble);
  for (double tau : {0.1, 1.0}) {
    for (double bias : {-10.0, 0.0, 2.5}) {
      SCOPED_TRACE("tau=" + std::to_string(tau) + " bias=" + std::to_string(bias));
      const auto got = tips::loss::sigmoid_loss(img, txt, /*offset=*/0, scalar(tau), scalar(bias));
      EXPECT_NEAR(got.item<double>(), reference_sigmoid(to_mat(img), to_mat(txt), tau, bias), 1e-9);
    }
  }
}

// Two "ranks" each see their own rows plus the gathered batch: the mean of their losses and its gradient
// (as an all-gather with gradient would deliver) equal the full-batch loss and gradient.
TEST(Contrastive, TwoRankHalvesEqualFullBatch) {
  auto gen = tips::rng::generator(11);
  const auto img0 = torch::randn({6, 4}, gen, torch::kDouble);
  const auto txt0 = torch::randn({6, 4}, gen, torch::kDouble);
  const auto tau0 = scalar(0.2);
  for (bool sigmoid : {false, true}) {
    SCOPED_TRACE(sigmoid ? "sigmoid" : "softmax");
    auto run = [&](bool split) {
      auto img = img0.clone().requires_grad_(true), txt = txt0.clone().requires_grad_(true);
      auto tau = tau0.clone().requires_grad_(true);
      const auto bias = scalar(-1.0);
      auto one = [&](int64_t lo, int64_t n) {
        const auto i = img.narrow(0, lo, n), t = txt.narrow(0, lo, n);
        return sigmoid ? tips::loss::sigmoid_loss(i, txt, lo, tau, bias)
                       : tips::loss::softmax_infonce(i, t, img, txt, lo, tau).loss;
      };
      auto loss = split ? 0.5 * (one(0, 3) + one(3, 3)) : one(0, 6);
      loss.backward();
      return std::vector<torch::Tensor>{loss.detach(), img.grad(), txt.grad(), tau.grad()};
    };
    const auto full = run(false), halves = run(true);
    for (size_t k = 0; k < full.size(); ++k) {
      SCOPED_TRACE("output " + std::to_string(k));
      EXPECT_TRUE(torch::allclose(full[k], halves[k], 1e-12, 1e-12)) << full[k] << halves[k];
    }
  }
}

TEST(Contrastive, GradientsMatchFiniteDifferences) {
  auto gen = tips::rng::generator(5);
  const auto img = torch::randn({4, 3}, gen, torch::kDouble);
  const auto txt = torch::randn({4, 3}, gen, torch::kDouble);
  using tips::testing::max_grad_error;
  namespace L = tips::loss;
  EXPECT_LT(max_grad_error([&](const torch::Tensor& x) { return L::softmax_infonce(x, txt, scalar(0.3)).loss; }, img),
            1e-7);
  EXPECT_LT(max_grad_error([&](const torch::Tensor& x) { return L::softmax_infonce(img, x, scalar(0.3)).loss; }, txt),
            1e-7);
  // Temperature: learnable, including values far below CLIP's 1/100 clamp.
  for (double tau : {0.3, 0.004}) {
    SCOPED_TRACE("tau=" + std::to_string(tau));
    const double h = tau * 1e-5;
    EXPECT_LT(max_grad_error([&](const torch::Tensor& t) { return L::softmax_infonce(img, txt, t).loss; },
                             scalar(tau), h),
              1e-3 / tau);
    EXPECT_LT(max_grad_error([&](const torch::Tensor& t) { return L::sigmoid_loss(img, txt, 0, t, scalar(-2.0)); },
                             scalar(tau), h),
              1e-3 / tau);
  }
  EXPECT_LT(max_grad_error([&](const torch::Tensor& b) { return L::sigmoid_loss(img, txt, 0, scalar(0.5), b); },
                           scalar(-3.0)),
            1e-7);
}

TEST(Contrastive, Bf16InputsComputeInFloat32) {
  auto gen = tips::rng::generator(8);
  const auto img = torch::randn({4, 8}, gen);
  const auto txt = torch::randn({4, 8}, gen);
  const auto ref = tips::loss::softmax_infonce(img.to(torch::kBFloat16).to(torch::kFloat),
                                               txt.to(torch::kBFloat16).to(torch::kFloat), torch::tensor(0.1f));
  const auto got = tips::loss::softmax_infonce(img.to(torch::kBFloat16), txt.to(torch::kBFloat16), torch::tensor(0.1f));
  EXPECT_EQ(got.loss.scalar_type(), torch::kFloat);
  EXPECT_NEAR(got.loss.item<double>(), ref.loss.item<double>(), 1e-5);
}

TEST(Contrastive, RejectsRowsOutsideTheGatheredBatch) {
  const auto x = torch::randn({3, 2});
  EXPECT_THROW(tips::loss::softmax_infonce(x, x, x, x, /*offset=*/1, torch::tensor(0.1)), c10::Error);
  EXPECT_THROW(tips::loss::sigmoid_loss(x, x.narrow(0, 0, 2), 0, torch::tensor(0.1), torch::tensor(0.0)), c10::Error);
}

}  // namespace
