#include "tips/loss/patch_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "tips/core/rng.h"
#include "tips/loss/contrastive.h"

namespace patch_text_test {

namespace L = tips::loss;
using tips::testing::max_grad_error;

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t k = 0; k < a.size(0); ++k) {
    const double x = a[k].item<double>(), y = b[k].item<double>();
    ab += x * y, aa += x * x, bb += y * y;
  }
  return ab / std::sqrt(aa * bb);
}

// Independent reading of the definition: s_ij = max_n cos(p_in, t_j), then the symmetric InfoNCE over s / tau.
std::vector<std::vector<double>> reference_similarity(const torch::Tensor& patches, const torch::Tensor& txt) {
  std::vector<std::vector<double>> s(patches.size(0), std::vector<double>(txt.size(0), -2.0));
  for (int64_t i = 0; i < patches.size(0); ++i)
    for (int64_t j = 0; j < txt.size(0); ++j)
      for (int64_t n = 0; n < patches.size(1); ++n) s[i][j] = std::max(s[i][j], cosine(patches[i][n], txt[j]));
  return s;
}

double reference_loss(const std::vector<std::vector<double>>& s, double tau) {
  const size_t b = s.size();
  double i2t = 0, t2i = 0;
  for (size_t i = 0; i < b; ++i) {
    double zr = 0, zc = 0;
    for (size_t j = 0; j < b; ++j) zr += std::exp(s[i][j] / tau), zc += std::exp(s[j][i] / tau);
    i2t += std::log(zr) - s[i][i] / tau;
    t2i += std::log(zc) - s[i][i] / tau;
  }
  return 0.5 * (i2t + t2i) / b;
}

TEST(PatchText, SimilarityAndLossMatchFloat64Loops) {
  for (const auto& [b, n, d, tau] : std::vector<std::tuple<int64_t, int64_t, int64_t, double>>{
           {2, 1, 3, 0.1}, {3, 4, 5, 0.07}, {5, 7, 2, 1.0}}) {
    SCOPED_TRACE("B=" + std::to_string(b) + " N=" + std::to_string(n) + " D=" + std::to_string(d));
    auto gen = tips::rng::generator(b * 1000 + n * 10 + d);
    const auto patches = torch::randn({b, n, d}, gen, torch::kDouble);
    const auto txt = torch::randn({b, d}, gen, torch::kDouble);
    const auto want = reference_similarity(patches, txt);
    const auto sim = L::patch_text_similarity(patches, txt);
    ASSERT_EQ(sim.sizes(), torch::IntArrayRef({b, b}));
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < b; ++j) EXPECT_NEAR(sim[i][j].item<double>(), want[i][j], 1e-12);
    const auto terms = L::patch_text_infonce(patches, txt, scalar(tau));
    EXPECT_NEAR(terms.loss.item<double>(), reference_loss(want, tau), 1e-9);
    EXPECT_NEAR(terms.loss.item<double>(), 0.5 * (terms.image_to_text + terms.text_to_image).item<double>(), 1e-12);
  }
}

// A hand-computed case: two images of two patches each, 2-d features.
//   image 0: patches (1, 0) and (0, 1); image 1: patches (1, 1) and (-1, 0); texts t0 = (1, 0), t1 = (0, 1).
//   s = [[max(1, 0), max(0, 1)], [max(1/sqrt2, -1), max(1/sqrt2, 0)]] = [[1, 1], [r, r]], r = 1/sqrt2.
//   Rows: CE([1, 1], 0) = ln 2, CE([r, r], 1) = ln 2.  Columns: CE([1, r], 0) = ln(1 + e^(r - 1)),
//   CE([1, r], 1) = ln(e^(1 - r) + 1).  tau = 1.
TEST(PatchText, HandComputedTwoByTwo) {
  const auto patches = torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 0.0}, torch::kDouble).view({2, 2, 2});
  const auto txt = torch::tensor({1.0, 0.0, 0.0, 1.0}, torch::kDouble).view({2, 2});
  const double r = 1.0 / std::sqrt(2.0);
  const double i2t = std::log(2.0);
  const double t2i = 0.5 * (std::log1p(std::exp(r - 1)) + std::log1p(std::exp(1 - r)));
  const auto terms = L::patch_text_infonce(patches, txt, scalar(1.0));
  EXPECT_NEAR(terms.image_to_text.item<double>(), i2t, 1e-12);
  EXPECT_NEAR(terms.text_to_image.item<double>(), t2i, 1e-12);
  EXPECT_NEAR(terms.loss.item<double>(), 0.5 * (i2t + t2i), 1e-12);
}

// With one patch per image the loss is the plain CLIP loss of those vectors.
TEST(PatchText, OnePatchEqualsSoftmaxInfonce) {
  auto gen = tips::rng::generator(21);
  const auto img = torch::randn({6, 4}, gen, torch::kDouble);
  const auto txt = torch::randn({6, 4}, gen, torch::kDouble);
  const auto a = L::patch_text_infonce(img.unsqueeze(1), txt, scalar(0.2)).loss;
  const auto b = L::softmax_infonce(img, txt, scalar(0.2)).loss;
  EXPECT_NEAR(a.item<double>(), b.item<double>(), 1e-12);
}

// Only the best-matching patch of each (image, text) pair gets a gradient.
TEST(PatchText, GradientReachesOnlyArgmaxPatches) {
  auto gen = tips::rng::generator(8);
  const int64_t b = 3, n = 6, d = 4;
  auto patches = torch::randn({b, n, d}, gen, torch::kDouble).requires_grad_(true);
  const auto txt = torch::randn({b, d}, gen, torch::kDouble);
  L::patch_text_infonce(patches, txt, scalar(0.5)).loss.backward();
  const auto cos = torch::nn::functional::normalize(patches.detach(), torch::nn::functional::NormalizeFuncOptions().dim(-1))
                       .matmul(torch::nn::functional::normalize(txt, torch::nn::functional::NormalizeFuncOptions().dim(-1)).t());
  const auto winners = cos.argmax(/*dim=*/1);  // (B, G): which patch of image i is best for text j
  const auto grad_norm = patches.grad().norm(2, -1);  // (B, N)
  int64_t zero_rows = 0;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < n; ++k) {
      const bool wins = (winners[i] == k).any().item<bool>();
      if (!wins) EXPECT_EQ(grad_norm[i][k].item<double>(), 0.0) << "image " << i << " patch " << k;
      else EXPECT_GT(grad_norm[i][k].item<double>(), 0.0) << "image " << i << " patch " << k;
      zero_rows += wins ? 0 : 1;
    }
  EXPECT_GT(zero_rows, 0);  // with N > B some patch must lose every text
}

TEST(PatchText, GradientsMatchFiniteDifferences) {
  auto gen = tips::rng::generator(13);
  const auto patches = torch::randn({3, 4, 3}, gen, torch::kDouble);
  const auto txt = torch::randn({3, 3}, gen, torch::kDouble);
  // h small enough that no argmax flips between the two evaluations.
  EXPECT_LT(max_grad_error([&](const torch::Tensor& x) { return L::patch_text_infonce(x, txt, scalar(0.3)).loss; },
                           patches),
            1e-7);
  EXPECT_LT(max_grad_error([&](const torch::Tensor& x) { return L::patch_text_infonce(patches, x, scalar(0.3)).loss; },
                           txt),
            1e-7);
  EXPECT_LT(max_grad_error([&](const torch::Tensor& t) { return L::patch_text_infonce(patches, txt, t).loss; },
                           scalar(0.05), 1e-7),
            1e-4);
}

// Two "ranks": each computes its rows against all texts; the rows gathered (here: concatenated, which is what the
// all-gather with gradient delivers) give the same loss and gradients as the full batch.
TEST(PatchText, TwoRankHalvesEqualFullBatch) {
  auto gen = tips::rng::generator(17);
  const auto p0 = torch::randn({6, 5, 4}, gen, torch::kDouble);
  const auto t0 = torch::randn({6, 4}, gen, torch::kDouble);
  auto run = [&](bool split) {
    auto p = p0.clone().requires_grad_(true), t = t0.clone().requires_grad_(true);
    auto tau = scalar(0.2).requires_grad_(true);
    torch::Tensor loss;
    if (split) {
      const auto s0 = L::patch_text_similarity(p.narrow(0, 0, 3), t), s1 = L::patch_text_similarity(p.narrow(0, 3, 3), t);
      const auto all = torch::cat({s0, s1}, 0);
      loss = 0.5 * (L::similarity_infonce(s0, all, 0, tau).loss + L::similarity_infonce(s1, all, 3, tau).loss);
    } else {
      loss = L::patch_text_infonce(p, t, tau).loss;
    }
    loss.backward();
    return std::vector<torch::Tensor>{loss.detach(), p.grad(), t.grad(), tau.grad()};
  };
  const auto full = run(false), halves = run(true);
  for (size_t k = 0; k < full.size(); ++k) {
    SCOPED_TRACE("output " + std::to_string(k));
    EXPECT_TRUE(torch::allclose(full[k], halves[k], 1e-12, 1e-12)) << full[k] << halves[k];
  }
}

TEST(PatchText, RejectsBadShapes) {
  const auto txt = torch::randn({2, 4});
  EXPECT_THROW(L::patch_text_similarity(torch::randn({2, 4}), txt), c10::Error);         // no patch axis
  EXPECT_THROW(L::patch_text_similarity(torch::randn({2, 3, 5}), txt), c10::Error);      // width mismatch
  EXPECT_THROW(L::patch_text_similarity(torch::randn({2, 0, 4}), txt), c10::Error);      // no patches
  const auto s = torch::randn({2, 4});
  EXPECT_THROW(L::similarity_infonce(s, torch::randn({4, 3}), 0, torch::tensor(0.1)), c10::Error);  // not square
  EXPECT_THROW(L::similarity_infonce(s, torch::randn({4, 4}), 3, torch::tensor(0.1)), c10::Error);  // offset
}

}  // namespace patch_text_test
