#include <gtest/gtest.h>

#include "reference_impl.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

// Parity with a torch.nn build of both towers in Python (tests/model/make_parity_values.py): same state-dict
// names, weights filled by name with ref::fill_deterministic, float64. The Python text tower runs
// nn.MultiheadAttention with the official float attention mask. Regenerate the constants with
//   /usr/bin/python3 tests/model/make_parity_values.py
namespace {

using namespace tips::model;

const std::vector<double> kVisionCls1 = {-1.16799967149, -1.15887941009, -0.852237070291, -0.435952582934, 0.210258995609, 0.537902492373,
    1.07106404952, 1.46783780067, -1.16801995964, -1.15843048, -0.853335150168, -0.434641577959,
    0.208774496122, 0.539176081272, 1.07009168705, 1.4683832363};
const std::vector<double> kVisionCls2 = {-1.16678674329, -1.14307937812, -0.851731368367, -0.438767952213, 0.165699417871, 0.551837074138,
    1.07643557365, 1.4791333819, -1.16679114435, -1.14274939814, -0.852507083835, -0.437829782471,
    0.164638598418, 0.552739805945, 1.07573346292, 1.47950945741};
const std::vector<double> kVisionPatch0 = {-0.187363283439, -1.79942407971, -0.270672706956, 0.924964467911, -0.595334147447, -0.456208539183,
    1.49233098124, 0.624449145287, 0.215569581059, -1.71285790276, -0.166934837084, 1.11462035216,
    -0.743758603004, -0.740833106999, 1.38184183167, 0.418833258529};
const std::vector<double> kVisionPatch7 = {-0.101524338905, -1.73104321912, -0.466359606498, 0.692490059369, -0.614332920287, -0.458762237432,
    1.48297865773, 0.931772611021, 0.0923041430131, -1.72641986539, -0.279455789366, 0.886302079035,
    -0.758173770026, -0.601088096469, 1.46911211248, 0.670915451244};
const std::vector<double> kText = {0.726294805409, -0.713064932417, -0.905673570066, -1.2004536371, -0.0243454289114, 0.784270023652,
    0.652873121784, 0.487205840286, -0.245063956751, -0.310276626925, -0.575881179144, -0.783033267973,
    -0.742804603674, 0.874242025568, 0.829737017778, 0.729948784866};

torch::Tensor t(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble).view({2, 8}); }

TEST(Parity, VisionTowerMatchesTorchNnBuild) {
  VisionTransformer vit(ref::tiny_vision());  // every parameter is overwritten below
  vit->to(torch::kDouble);
  vit->eval();
  ref::fill_deterministic(*vit);
  const auto img = (0.5 + 0.5 * torch::sin(0.1 * torch::arange(2 * 3 * 4 * 8, torch::kDouble))).view({2, 3, 4, 8});
  auto mask = torch::zeros({2, 8}, torch::kBool);
  mask[1][3] = true;
  torch::NoGradGuard no_grad;
  const VisionOutput o = vit->forward(img, mask);  // non-square 2 x 4 grid: resized position table
  EXPECT_TRUE(torch::allclose(o.cls1, t(kVisionCls1), 1e-7, 1e-9));
  EXPECT_TRUE(torch::allclose(o.cls2, t(kVisionCls2), 1e-7, 1e-9));
  EXPECT_TRUE(torch::allclose(o.patches.select(1, 0), t(kVisionPatch0), 1e-7, 1e-9));
  EXPECT_TRUE(torch::allclose(o.patches.select(1, 7), t(kVisionPatch7), 1e-7, 1e-9));
}

TEST(Parity, TextTowerMatchesTorchNnMultiheadAttention) {
  TextEncoder enc(ref::tiny_text());
  enc->to(torch::kDouble);
  ref::fill_deterministic(*enc);
  const auto ids = torch::tensor({5, 17, 3, 0, 0, 0, 42, 8, 9, 11, 1, 49}, torch::kLong).view({2, 6});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(enc->forward(ids), t(kText), 1e-7, 1e-9));
}

}  // namespace
