#include "tips/eval/visualize.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tips/core/error.h"
#include "tips/core/rng.h"

namespace {

using namespace tips::eval;
namespace fs = std::filesystem;

TEST(Visualize, PcaRecoversKnownComponents) {
  // features = 10 a_i e1 + 3 b_i e2 + 1 c_i e3 in D = 5 (a, b, c zero-mean, mutually orthogonal), rotated by
  // a fixed orthogonal matrix: the PCA channels must equal min-max(a), min-max(b), min-max(c) up to sign,
  // and the sign rule makes the largest loading positive.
  const int64_t N = 8;
  const auto a = torch::tensor({1, -1, 1, -1, 1, -1, 1, -1}, torch::kDouble);
  const auto b = torch::tensor({1, 1, -1, -1, 1, 1, -1, -1}, torch::kDouble);
  const auto c = torch::tensor({1, 1, 1, 1, -1, -1, -1, -1}, torch::kDouble);  // Walsh functions: orthogonal
  auto gen = tips::rng::generator(5);
  const auto q = std::get<0>(torch::linalg_qr(torch::randn({5, 5}, gen, torch::kDouble)));
  const auto basis = q.narrow(0, 0, 3);  // 3 orthonormal rows of length 5
  const auto feats =
      (10 * a.unsqueeze(1) * basis[0] + 3 * b.unsqueeze(1) * basis[1] + c.unsqueeze(1) * basis[2]).to(torch::kFloat);
  const auto rgb = pca_rgb(feats);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{N, 3}));
  for (const auto& [ch, coeff, dir] : std::vector<std::tuple<int, torch::Tensor, torch::Tensor>>{
           {0, a, basis[0]}, {1, b, basis[1]}, {2, c, basis[2]}}) {
    SCOPED_TRACE("channel " + std::to_string(ch));
    const double s = dir[dir.abs().argmax()].item<double>() > 0 ? 1.0 : -1.0;  // sign rule
    const auto signed_coeff = coeff * s;
    const auto want = (signed_coeff - signed_coeff.min()) / (signed_coeff.max() - signed_coeff.min());
    EXPECT_TRUE(torch::allclose(rgb.select(1, ch).to(torch::kDouble), want, 1e-4, 1e-4))
        << rgb.select(1, ch) << want;
  }
}

TEST(Visualize, PcaShapeAndRange) {
  auto gen = tips::rng::generator(9);
  for (const auto& shape : std::vector<std::vector<int64_t>>{{196, 64}, {4, 2}, {2, 7}}) {
    SCOPED_TRACE(std::to_string(shape[0]) + "x" + std::to_string(shape[1]));
    const auto rgb = pca_rgb(torch::randn(shape, gen));
    ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{shape[0], 3}));
    EXPECT_GE(rgb.min().item<double>(), 0.0);
    EXPECT_LE(rgb.max().item<double>(), 1.0);
    EXPECT_NEAR(rgb.select(1, 0).max().item<double>(), 1.0, 1e-6);  // the first component always varies
  }
  EXPECT_TRUE(torch::allclose(pca_rgb(torch::ones({5, 3})), torch::full({5, 3}, 0.5)));  // constant -> 0.5
}

TEST(Visualize, PaletteColorizeAndPng) {
  const auto pal = class_palette(13);
  ASSERT_EQ(pal.sizes(), (std::vector<int64_t>{13, 3}));
  EXPECT_EQ(pal[0].sum().item<int64_t>(), 0);  // background black
  EXPECT_TRUE(torch::equal(class_palette(13), pal));
  const auto rgb = colorize(torch::tensor({0, 1, 255, 12}, torch::kLong).view({2, 2}), pal);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_TRUE(torch::equal(rgb[0][1], pal[1]));
  EXPECT_TRUE(torch::equal(rgb[1][0], torch::full({3}, 128, torch::kUInt8)));  // ignore -> grey
  EXPECT_TRUE(torch::equal(rgb[1][1], pal[12]));

  const auto img = to_rgb8(torch::tensor({0.0f, 1.0f, 0.5f, 2.0f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}).view({3, 2, 2}));
  EXPECT_EQ(img[0][0][0].item<uint8_t>(), 0);
  EXPECT_EQ(img[0][1][0].item<uint8_t>(), 255);
  EXPECT_EQ(img[1][0][0].item<uint8_t>(), 128);
  EXPECT_EQ(img[1][1][0].item<uint8_t>(), 255);  // clamped

  const fs::path dir = fs::temp_directory_path() / ("tips_vis_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Panel panel;
  panel.tiles = {img, rgb};
  panel.titles = {"image", "labels"};
  panel.legend_names = {"background", "t-shirt"};
  panel.palette = pal;
  panel.tile_px = 64;
  write_panel_png((dir / "panel.png").string(), panel);
  std::ifstream f(dir / "panel.png", std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  EXPECT_THROW(write_png((dir / "missing" / "x.png").string(), img), tips::DataError);
  fs::remove_all(dir);
}

}  // namespace
