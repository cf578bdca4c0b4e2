#include "tips/eval/evaluator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../io/test_util.h"
#include "tips/eval/encoders.h"
#include "tips/eval/visualize.h"

namespace {

using namespace tips::eval;
namespace fs = std::filesystem;

// Features built by hand: with patch size 1 every pixel is a patch, and a patch's feature is its RGB colour, so
// a pure red pixel has cosine 1 with the text "red" and 0 with "green" and "blue", and a gray pixel cosine 1 with
// "gray" and 1/sqrt(3) with each colour. The two readouts and the two CLS tokens differ on purpose, so that a
// figure read from the wrong one shows:
//   value readout, cls1:  the colour (r, g, b) (cls1: the image's mean colour);
//   final readout, cls2:  the colour rotated to (b, r, g): red reads as green, blue as red, gray stays gray.
class ColourEncoders final : public Encoders {
 public:
  tips::model::VisionOutput encode_images(const torch::Tensor& images, bool dense_readouts) override {
    const auto colours = images.flatten(2).transpose(1, 2);  // (B, N, 3)
    const auto rotated = colours.index({torch::indexing::Slice(), torch::indexing::Slice(), torch::tensor({2, 0, 1})});
    tips::model::VisionOutput out;
    out.cls1 = colours.mean(1);
    out.cls2 = rotated.mean(1);
    out.patches = rotated;
    if (dense_readouts) {
      out.value_patches = colours;
      out.penultimate_patches = colours;
    }
    return out;
  }
  torch::Tensor encode_texts(const std::vector<std::string>& texts) override {
    auto out = torch::zeros({static_cast<int64_t>(texts.size()), 3});
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto has = [&](const char* word) { return texts[i].find(word) != std::string::npos; };
      if (has("gray")) out[i].fill_(1.0);
      else if (has("red")) out[i][0] = 1.0;
      else if (has("green")) out[i][1] = 1.0;
      else if (has("blue")) out[i][2] = 1.0;
      else ADD_FAILURE() << "no colour in \"" << texts[i] << "\"";
    }
    return out;
  }
  int64_t patch_size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
};

struct Colour {
  uint8_t r, g, b;
};
constexpr Colour kRed{255, 0, 0}, kGreen{0, 255, 0}, kBlue{0, 0, 255}, kGray{128, 128, 128};

// A 4x4 image painted from a 4x4 grid of colours (row-major), written as PNG.
void write_image(const fs::path& path, const std::vector<Colour>& pixels) {
  auto rgb = torch::empty({4, 4, 3}, torch::kUInt8);
  for (int64_t i = 0; i < 16; ++i)
    rgb[i / 4][i % 4] = torch::tensor({pixels[i].r, pixels[i].g, pixels[i].b}, torch::kUInt8);
  write_png(path.string(), rgb);
}

void write_label_map(const fs::path& path, const std::vector<uint8_t>& labels) {
  write_png(path.string(), torch::tensor(labels, torch::kUInt8).view({4, 4}));
}

// Two canvases (classes red, green, blue; label 0 background, k + 1 class k):
//   A: labels 1 1 2 2 / 1 1 2 2 / 0 0 3 3 / 0 0 3 3, painted red where the label is red *and* where it is green,
//      gray on the background, blue on blue;
//   B: all blue, labelled blue.
// Single items: red (label red), green (green), blue (blue), and a red one labelled blue; the kNN bank holds one
// red, one green and one blue item with their own labels.
void write_eval_set(const fs::path& dir) {
  std::ofstream(dir / "classes.txt") << "red\ngreen\nblue\n";
  std::vector<Colour> a(16);
  std::vector<uint8_t> a_labels(16);
  for (int i = 0; i < 16; ++i) {
    const bool top = i / 4 < 2, left = i % 4 < 2;
    a_labels[i] = top ? (left ? 1 : 2) : (left ? 0 : 3);
    a[i] = top ? kRed : (left ? kGray : kBlue);
  }
  write_image(dir / "a.png", a);
  write_label_map(dir / "a_mask.png", a_labels);
  write_image(dir / "b.png", std::vector<Colour>(16, kBlue));
  write_label_map(dir / "b_mask.png", std::vector<uint8_t>(16, 3));
  std::ofstream(dir / "seg.jsonl")
      << R"({"image": "a.png", "mask": "a_mask.png", "alt_text": "red", "caption_long": "blue"})" << "\n"
      << R"({"image": "b.png", "mask": "b_mask.png", "alt_text": "blue", "caption_long": "red"})" << "\n";
  const std::vector<std::pair<std::string, Colour>> items{{"red", kRed}, {"green", kGreen}, {"blue", kBlue}};
  std::ofstream cls(dir / "cls.jsonl"), bank(dir / "bank.jsonl");
  for (size_t k = 0; k < items.size(); ++k) {
    write_image(dir / (items[k].first + ".png"), std::vector<Colour>(16, items[k].second));
    cls << R"({"image": ")" << items[k].first << R"(.png", "label": )" << k << "}\n";
    bank << R"({"image": ")" << items[k].first << R"(.png", "label": )" << k << "}\n";
  }
  cls << R"({"image": "red.png", "label": 2})" << "\n";
}

EvalConfig colour_eval_config(const fs::path& dir) {
  EvalConfig cfg;
  cfg.seg_manifest = (dir / "seg.jsonl").string();
  cfg.cls_manifest = (dir / "cls.jsonl").string();
  cfg.knn_bank_manifest = (dir / "bank.jsonl").string();
  cfg.templates = {"a {} thing", "a photo of the {}"};
  cfg.seg_readouts = {"value", "final"};
  cfg.image_size = 4;
  cfg.batch_size = 3;  // the cls split (4 items) runs as two batches
  cfg.background_class = "gray";
  cfg.background_score = 0.9;
  cfg.knn_k = 1;
  cfg.retrieval_fields = {"alt_text", "caption_long"};
  cfg.visualize = 1;
  return cfg;
}

TEST(Evaluator, HandBuiltFeaturesGiveHandComputedFigures) {
  tips::testing::TempDir tmp;
  const fs::path dir = tmp.str();
  write_eval_set(dir);
  ColourEncoders enc;
  const auto out = dir / "out";
  const auto r = run_evaluations(enc, colour_eval_config(dir), out.string());
  const auto& m = r.metrics;

  // Value readout (the headline). Item pixels: A's 4 red (right), A's 4 green painted red (read as red: wrong),
  // A's 4 blue and B's 16 blue (right): 24 of 28. IoU red = 4 / (4 + 4), green = 0, blue = 20 / 20.
  EXPECT_DOUBLE_EQ(m.at("seg/object_pixel_acc"), 24.0 / 28.0);
  EXPECT_DOUBLE_EQ(m.at("seg/obj_miou"), (0.5 + 0.0 + 1.0) / 3.0);
  // With the gray background prompt the 4 gray pixels are background (cosine 1 against 1/sqrt(3)): background IoU
  // 1, so mIoU over 4 classes = 2.5 / 4, and 28 of 32 pixels right. Predicting background everywhere: background
  // IoU 4 / 32, every object class 0.
  EXPECT_DOUBLE_EQ(m.at("seg/miou"), 2.5 / 4.0);
  EXPECT_DOUBLE_EQ(m.at("seg/pixel_acc"), 28.0 / 32.0);
  EXPECT_DOUBLE_EQ(m.at("seg/miou_objects"), 1.5 / 3.0);
  EXPECT_DOUBLE_EQ(m.at("seg/miou_all_background"), (4.0 / 32.0) / 4.0);
  // A constant background cosine of 0.9: gray pixels reach 1/sqrt(3) at most, the others 1: as with the prompt.
  EXPECT_DOUBLE_EQ(m.at("seg/miou_bg_const"), 2.5 / 4.0);

  // Final readout: red reads as green, blue as red. Right: only A's green-labelled red pixels (4 of 28).
  // IoU red = 0 (predicted on 20 blue pixels), green = 4 / 8, blue = 0.
  EXPECT_DOUBLE_EQ(m.at("seg/final/object_pixel_acc"), 4.0 / 28.0);
  EXPECT_DOUBLE_EQ(m.at("seg/final/obj_miou"), 0.5 / 3.0);
  EXPECT_DOUBLE_EQ(m.at("seg/final/miou"), 1.5 / 4.0);
  EXPECT_DOUBLE_EQ(m.at("seg/final/pixel_acc"), 8.0 / 32.0);
  EXPECT_EQ(m.count("seg/penultimate/obj_miou"), 0u);  // not asked for

  // Per-class IoU of the headline readout, background prompt first.
  ASSERT_EQ(r.per_class_iou.size(), 4u);
  EXPECT_DOUBLE_EQ(r.per_class_iou.at("gray"), 1.0);
  EXPECT_DOUBLE_EQ(r.per_class_iou.at("red"), 0.5);
  EXPECT_DOUBLE_EQ(r.per_class_iou.at("green"), 0.0);
  EXPECT_DOUBLE_EQ(r.per_class_iou.at("blue"), 1.0);

  // Zero-shot classification on CLS1 (the mean colour): the red item labelled blue is the one miss; top-5 clamps
  // to the 3 classes. kNN with k = 1 finds the bank's red item for it: the same miss.
  EXPECT_DOUBLE_EQ(m.at("cls/top1"), 0.75);
  EXPECT_DOUBLE_EQ(m.at("cls/top5"), 1.0);
  EXPECT_DOUBLE_EQ(m.at("knn/top1"), 0.75);

  // Retrieval, alt_text on CLS1: A's mean colour (0.625, 0.125, 0.375) is nearest "red", B "blue": all right.
  EXPECT_DOUBLE_EQ(m.at("retrieval/alt_text/i2t_r1"), 1.0);
  EXPECT_DOUBLE_EQ(m.at("retrieval/alt_text/t2i_r1"), 1.0);
  // caption_long on CLS2 (rotated: A (0.375, 0.625, 0.125), B (1, 0, 0)), A captioned "blue", B "red": A's best
  // caption is B's "red" (0.375 > 0.125), B's is its own; "blue" finds A (B scores 0), "red" finds B. On CLS1 "blue"
  // would find B instead, so t2i = 1 also shows that the synthetic field reads CLS2.
  EXPECT_DOUBLE_EQ(m.at("retrieval/caption_long/i2t_r1"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("retrieval/caption_long/t2i_r1"), 1.0);

  EXPECT_EQ(r.counts.at("seg"), 2);
  EXPECT_EQ(r.counts.at("cls"), 4);
  EXPECT_EQ(r.counts.at("knn_bank"), 3);
  // eval.json holds the same figures; one panel was asked for.
  std::ifstream json(out / "eval.json");
  const auto j = nlohmann::json::parse(json);
  EXPECT_DOUBLE_EQ(j["metrics"]["seg/obj_miou"].get<double>(), 0.5);
  EXPECT_TRUE(fs::exists(out / "vis" / "seg_000.png"));
  EXPECT_FALSE(fs::exists(out / "vis" / "seg_001.png"));
}

// Sliding windows score every readout, each from the same window forwards. With one pixel per patch, 2x2 windows
// that tile the 4x4 canvases give every pixel its own window's softmax, whose argmax is the whole-image one: the
// object figures of both readouts are those of the test above.
TEST(Evaluator, SlideModeScoresEveryReadout) {
  tips::testing::TempDir tmp;
  const fs::path dir = tmp.str();
  write_eval_set(dir);
  auto cfg = colour_eval_config(dir);
  cfg.seg_mode = SegMode::kSlide;
  cfg.slide_window = 2;
  cfg.slide_stride = 2;
  cfg.cls_manifest = "";
  cfg.visualize = 0;
  ColourEncoders enc;
  const auto r = run_evaluations(enc, cfg, (dir / "out").string());
  EXPECT_DOUBLE_EQ(r.metrics.at("seg/object_pixel_acc"), 24.0 / 28.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("seg/obj_miou"), (0.5 + 0.0 + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("seg/final/object_pixel_acc"), 4.0 / 28.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("seg/final/obj_miou"), 0.5 / 3.0);
}

TEST(Evaluator, NoBackgroundClassLeavesThePromptFiguresOut) {
  tips::testing::TempDir tmp;
  const fs::path dir = tmp.str();
  write_eval_set(dir);
  auto cfg = colour_eval_config(dir);
  cfg.background_class = "";
  cfg.background_score = -2;  // off
  cfg.cls_manifest = "";
  cfg.visualize = 0;
  ColourEncoders enc;
  const auto r = run_evaluations(enc, cfg, (dir / "out").string());
  EXPECT_DOUBLE_EQ(r.metrics.at("seg/obj_miou"), 0.5);
  EXPECT_EQ(r.metrics.count("seg/miou"), 0u);
  EXPECT_EQ(r.metrics.count("seg/miou_bg_const"), 0u);
  EXPECT_EQ(r.metrics.count("cls/top1"), 0u);
  EXPECT_EQ(r.counts.count("cls"), 0u);
  // Without a background prompt the per-class IoU is the objects-only one.
  ASSERT_EQ(r.per_class_iou.size(), 3u);
  EXPECT_DOUBLE_EQ(r.per_class_iou.at("red"), 0.5);
}

}  // namespace
