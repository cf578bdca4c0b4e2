#include "tips/data/augment.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/error.h"

namespace {

using tips::data::CropBox;
using tips::data::Image;
using tips::data::Photometric;

// R = 2x, G = 4y, B = 200: every 2x2 average and every bilinear sample has a closed form.
Image gradient(int64_t h, int64_t w) {
  Image img{h, w, std::vector<uint8_t>(static_cast<size_t>(h * w * 3))};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(y * w + x) * 3];
      p[0] = static_cast<uint8_t>(2 * x);
      p[1] = static_cast<uint8_t>(4 * y);
      p[2] = 200;
    }
  return img;
}

torch::Tensor crop(const Image& img, CropBox box, int64_t size, Photometric photo = {}) {
  auto out = torch::empty({3, size, size});
  tips::rng::SplitMix r(0);
  tips::data::crop_to_tensor(img, box, size, photo, r, out);
  return out;
}

TEST(Augment, CropGeometryMatchesClosedForm) {
  const Image img = gradient(48, 64);
  struct Case {
    const char* name;
    CropBox box;
    int64_t size;
    std::function<double(int64_t, int64_t, int64_t)> expected;  // (channel, y, x) -> value in 0..255
    double tol;  // in 0..255 units
  };
  const auto lin = [](double s, int64_t n) { return std::min(std::max(s, 0.0), static_cast<double>(n - 1)); };
  const Case cases[] = {
      {"identity", {5, 7, 16, 16, false}, 16,
       [](int64_t c, int64_t y, int64_t x) { return c == 0 ? 2.0 * (7 + x) : c == 1 ? 4.0 * (5 + y) : 200.0; }, 0},
      {"flip", {5, 7, 16, 16, true}, 16,
       [](int64_t c, int64_t y, int64_t x) { return c == 0 ? 2.0 * (7 + 15 - x) : c == 1 ? 4.0 * (5 + y) : 200.0; },
       0},
      // INTER_AREA with factor 2 averages 2x2 blocks: R = 2*(6+2x) + 1, G = 4*(4+2y) + 2.
      {"shrink2", {4, 6, 32, 32, false}, 16,
       [](int64_t c, int64_t y, int64_t x) { return c == 0 ? 4.0 * x + 13 : c == 1 ? 8.0 * y + 18 : 200.0; }, 0},
      // INTER_LINEAR, half-pixel centres: source coordinate (i + 0.5) / 2 - 0.5 clamped to the 8-pixel crop.
      {"enlarge2", {10, 20, 8, 8, false}, 16,
       [lin](int64_t c, int64_t y, int64_t x) {
         return c == 0 ? 2.0 * (20 + lin((x + 0.5) / 2 - 0.5, 8)) : c == 1 ? 4.0 * (10 + lin((y + 0.5) / 2 - 0.5, 8))
                                                                           : 200.0;
       },
       0.51}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto out = crop(img, c.box, c.size);
    const auto a = out.accessor<float, 3>();
    double worst = 0;
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t y = 0; y < c.size; ++y)
        for (int64_t x = 0; x < c.size; ++x)
          worst = std::max(worst, std::abs(a[ch][y][x] * 255.0 - c.expected(ch, y, x)));
    EXPECT_LE(worst, c.tol + 1e-4);
  }
}

TEST(Augment, PhotometricOpsMatchFormulas) {
  const Image img = gradient(32, 96);  // R spans 0..190, crossing the solarize threshold
  const auto plain = crop(img, {0, 0, 32, 32, false}, 32) * 255;
  Photometric sol;
  sol.solarize = true;
  const auto s = crop(img, {0, 64, 32, 32, false}, 32, sol) * 255;  // R = 128..190 -> 127..65
  const auto r_expected = 255 - 2 * (64 + torch::arange(32, torch::kFloat));
  EXPECT_TRUE(torch::allclose(s[0][3], r_expected, 0, 1e-3));
  EXPECT_TRUE(torch::allclose(s[1], torch::where(plain[1] >= 128, 255 - plain[1], plain[1]), 0, 1e-3));
  Photometric gray;
  gray.grayscale = true;
  const auto g = crop(img, {0, 0, 32, 32, false}, 32, gray) * 255;
  const auto luma = 0.299 * plain[0] + 0.587 * plain[1] + 0.114 * plain[2];  // ITU-R 601, as OpenCV and PIL
  EXPECT_LE((g[0] - luma).abs().max().item<float>(), 0.51 + 1e-3);
  EXPECT_TRUE(torch::equal(g[0], g[1]));
  EXPECT_TRUE(torch::equal(g[1], g[2]));
  Photometric blur;
  blur.blur = true;
  Image flat{16, 16, std::vector<uint8_t>(16 * 16 * 3, 77)};
  const auto b = crop(flat, {0, 0, 16, 16, false}, 16, blur) * 255;
  EXPECT_NEAR(b.min().item<float>(), 77, 1e-3);
  EXPECT_NEAR(b.max().item<float>(), 77, 1e-3);
}

TEST(Augment, RandomResizedCropBoxBoundsAndFallback) {
  tips::rng::SplitMix r(3);
  for (int i = 0; i < 2000; ++i) {
    const auto b = tips::data::random_resized_crop_box(300, 400, 0.32, 1.0, r);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, 300);
    ASSERT_LE(b.left + b.width, 400);
    const double frac = static_cast<double>(b.height * b.width) / (300.0 * 400.0);
    const double aspect = static_cast<double>(b.width) / b.height;
    // Sides are >= 150 px, so rounding moves area by < 1% and aspect by < 1%.
    EXPECT_GE(frac, 0.32 * 0.99);
    EXPECT_LE(frac, 1.0);
    EXPECT_GE(aspect, 0.75 * 0.99);
    EXPECT_LE(aspect, 4.0 / 3.0 * 1.01);
  }
  struct Case { int64_t h, w; CropBox expected; };
  // scale 1..1 never fits a 10:1 image under aspect <= 4/3: centre crop of aspect 4/3 (or 3/4).
  const Case cases[] = {{10, 100, {0, 43, 10, 13, false}}, {100, 10, {43, 0, 13, 10, false}}};
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w);
    const auto b = tips::data::random_resized_crop_box(c.h, c.w, 1.0, 1.0, r);
    EXPECT_EQ(b.top, c.expected.top);
    EXPECT_EQ(b.left, c.expected.left);
    EXPECT_EQ(b.height, c.expected.height);
    EXPECT_EQ(b.width, c.expected.width);
  }
}

TEST(Augment, MultiCropShapesRangeAndDeterminism) {
  tips::data::CropConfig cfg;  // 1 x 224 + 6 x 98
  tips::data::MultiCropAugment aug(cfg);
  const Image img = gradient(120, 90);
  tips::rng::SplitMix a(11), b(11), c(12);
  const auto x = aug(img, a), y = aug(img, b), z = aug(img, c);
  EXPECT_EQ(x.global.sizes(), torch::IntArrayRef({1, 3, 224, 224}));
  EXPECT_EQ(x.local.sizes(), torch::IntArrayRef({6, 3, 98, 98}));
  EXPECT_GE(x.local.min().item<float>(), 0.0f);
  EXPECT_LE(x.global.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(x.global, y.global));
  EXPECT_TRUE(torch::equal(x.local, y.local));
  EXPECT_FALSE(torch::equal(x.global, z.global));
  EXPECT_EQ(a.state, b.state);
  cfg.local_count = 0;
  EXPECT_FALSE(tips::data::MultiCropAugment(cfg)(img, c).local.defined());
}

TEST(Augment, FlipProbabilityFrequency) {
  tips::data::CropConfig cfg;
  cfg.global_scale_min = cfg.global_scale_max = 1.0;
  cfg.global_size = 8;
  cfg.local_count = 0;
  tips::data::MultiCropAugment aug(cfg);
  const Image img = gradient(8, 8);  // full-image crop: flipped iff R decreases left to right
  tips::rng::SplitMix r(8);
  int flips = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    const auto out = aug(img, r).global[0][0][0];
    flips += out[0].item<float>() > out[7].item<float>();
  }
  EXPECT_NEAR(flips / static_cast<double>(n), 0.5, 0.056);  // 5 sigma of Binomial(2000, 0.5)
}

TEST(Decode, RoundTripsAndChannelOrder) {
  const Image img = gradient(20, 30);
  const Image png = tips::data::decode_image(tips::data::encode_image(img, ".png"));
  EXPECT_EQ(png.height, 20);
  EXPECT_EQ(png.width, 30);
  EXPECT_EQ(png.rgb, img.rgb);
  const Image jpg = tips::data::decode_image(tips::data::encode_image(img, ".jpg", 95));
  double err = 0;
  for (size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(int(jpg.rgb[i]) - int(img.rgb[i]));
  EXPECT_LT(err / img.rgb.size(), 3.0);
  // Hand-written binary PPM (RGB order on disk) and PGM (grayscale -> 3 equal channels).
  const std::string ppm = std::string("P6\n2 1\n255\n") + std::string("\x0a\x14\x1e\xc8\x64\x05", 6);
  EXPECT_EQ(tips::data::decode_image(ppm).rgb, (std::vector<uint8_t>{10, 20, 30, 200, 100, 5}));
  const std::string pgm = std::string("P5\n2 1\n255\n") + std::string("\x07\xfa", 2);
  EXPECT_EQ(tips::data::decode_image(pgm).rgb, (std::vector<uint8_t>{7, 7, 7, 250, 250, 250}));
}

TEST(Decode, CorruptDataThrowsDataError) {
  const std::string jpeg = tips::data::encode_image(gradient(64, 64), ".jpg");
  std::string garbage(500, '\0');
  tips::rng::SplitMix r(1);
  for (auto& ch : garbage) ch = static_cast<char>(r.randint(0, 256));
  const std::pair<const char*, std::string> cases[] = {
      {"empty", ""}, {"half jpeg", jpeg.substr(0, jpeg.size() / 2)}, {"jpeg header only", jpeg.substr(0, 2)},
      {"garbage", garbage}, {"text", "not an image at all"}};
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    EXPECT_THROW(tips::data::decode_image(bytes), tips::DataError);
  }
}

TEST(Augment, InvalidConfigThrowsConfigError) {
  const std::function<void(tips::data::CropConfig&)> breakers[] = {
      [](auto& c) { c.global_count = 0; }, [](auto& c) { c.local_size = 0; },
      [](auto& c) { c.global_scale_min = 0; }, [](auto& c) { c.local_scale_max = 1.5; },
      [](auto& c) { c.flip_prob = -0.1; }, [](auto& c) { c.blur_prob = 2; }};
  for (const auto& brk : breakers) {
    tips::data::CropConfig c;
    brk(c);
    EXPECT_THROW(tips::data::MultiCropAugment{c}, tips::ConfigError);
  }
}

}  // namespace
