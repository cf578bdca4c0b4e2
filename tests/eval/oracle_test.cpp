#include "tips/eval/oracle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../io/test_util.h"
#include "tips/core/error.h"
#include "tips/eval/visualize.h"

namespace {

using namespace tips::eval;
namespace fs = std::filesystem;

// 4x4 label map on a 2x2 patch grid: the top-left patch holds one pixel of class 0 (label 1) at (0, 0) and three
// background pixels, the other three patches are all class 1 (label 2).
torch::Tensor corner_item_map() {
  auto m = torch::full({4, 4}, 2, torch::kLong);
  m.index_put_({torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}, 0);
  m[0][0] = 1;
  return m;
}

TEST(Oracle, ScoresAreTheClassSharesOfEachPatch) {
  const auto s = oracle_scores(corner_item_map(), 2, 2, /*classes=*/2);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
  const auto want = torch::tensor({0.75f, 0.f, 0.f, 0.f,     // background
                                   0.25f, 0.f, 0.f, 0.f,     // class 0
                                   0.f, 1.f, 1.f, 1.f})      // class 1
                        .view({1, 3, 2, 2});
  EXPECT_TRUE(torch::equal(s, want)) << s;
  EXPECT_THROW(oracle_scores(corner_item_map(), 2, 2, /*classes=*/1), c10::Error);  // label 2 > 1 class
}

// The scores upsampled bilinearly to the 4x4 map (align_corners off; edge pixels read their own patch):
//   objects only: the item pixel (0, 0) reads the top-left patch alone (class 0 0.25 > class 1 0), every class-1
//     pixel has class 1 >= 0.75: all 13 item pixels right, both IoUs 1.
//   background as a class: (0, 0) goes to the background (0.75 > 0.25), (1, 1) to class 1 (0.4375 against
//     background 0.421875), (0, 1) and (1, 0) stay background: background IoU 2/4, class 0 IoU 0, class 1 IoU 12/13,
//     14 of 16 pixels right.
TEST(Oracle, FiguresOfACornerItemByHand) {
  tips::testing::TempDir tmp;
  const fs::path dir = tmp.str();
  write_png((dir / "mask.png").string(), corner_item_map().to(torch::kUInt8));
  std::ofstream(dir / "classes.txt") << "a\nb\n";
  std::ofstream(dir / "seg.jsonl") << R"({"image": "unused.png", "mask": "mask.png"})" << "\n";
  EvalConfig cfg;
  cfg.seg_manifest = (dir / "seg.jsonl").string();
  cfg.image_size = 4;
  const auto r = evaluate_oracle(cfg, /*patch_size=*/2);
  EXPECT_DOUBLE_EQ(r.metrics.at("oracle/object_pixel_acc"), 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("oracle/obj_miou"), 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("oracle/miou"), (0.5 + 0.0 + 12.0 / 13.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("oracle/pixel_acc"), 14.0 / 16.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("oracle/miou_objects"), (0.0 + 12.0 / 13.0) / 2.0);
  EXPECT_EQ(r.counts.at("oracle"), 1);
  // A grid as fine as the map is exact.
  cfg.image_size = 4;
  const auto fine = evaluate_oracle(cfg, /*patch_size=*/1);
  EXPECT_DOUBLE_EQ(fine.metrics.at("oracle/miou"), 1.0);
  EXPECT_DOUBLE_EQ(fine.metrics.at("oracle/pixel_acc"), 1.0);
  cfg.image_size = 5;
  EXPECT_THROW(evaluate_oracle(cfg, 2), tips::ConfigError);
}

}  // namespace
