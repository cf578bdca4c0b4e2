#include "tips/eval/eval_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tips/core/error.h"
#include "tips/eval/visualize.h"

namespace {

using namespace tips::eval;
namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("tips_eval_set_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path / "images"); }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

TEST(EvalSet, ReadsRecordsResolvesPathsAndCaps) {
  TempDir d;
  const auto m = d.write("test.jsonl",
                         "{\"image\": \"images/0.png\", \"mask\": \"masks/0.png\", \"label\": 3, \"alt_text\": \"a bag\", "
                         "\"caption_long\": \"a red bag\", \"extra\": [1]}\n"
                         "\n"
                         "{\"image\": \"/abs/1.png\", \"caption_medium\": \"x\"}\n"
                         "{\"image\": \"images/2.png\"}\n");
  const auto s = read_eval_manifest(m.string());
  ASSERT_EQ(s.records.size(), 3u);
  EXPECT_EQ(s.records[0].image, (d.path / "images/0.png").string());
  EXPECT_EQ(s.records[0].mask, (d.path / "masks/0.png").string());
  EXPECT_EQ(s.records[0].label, 3);
  EXPECT_EQ(s.records[0].texts.at("alt_text"), "a bag");
  EXPECT_EQ(s.records[0].texts.at("caption_long"), "a red bag");
  EXPECT_EQ(s.records[0].texts.count("extra"), 0u);
  EXPECT_EQ(s.records[1].image, "/abs/1.png");
  EXPECT_EQ(s.records[1].label, -1);
  EXPECT_TRUE(s.records[1].mask.empty());
  EXPECT_EQ(read_eval_manifest(m.string(), 2).records.size(), 2u);
}

TEST(EvalSet, ErrorsNameTheFileAndLine) {
  TempDir d;
  struct Case {
    const char* text;
    const char* needle;
  };
  for (const auto& c : std::vector<Case>{{"{\"image\": \"a.png\"}\n{oops\n", "test.jsonl:2"},
                                          {"{\"label\": 1}\n", "test.jsonl:1"}}) {
    SCOPED_TRACE(c.text);
    const auto m = d.write("test.jsonl", c.text);
    try {
      read_eval_manifest(m.string());
      ADD_FAILURE() << "no error";
    } catch (const tips::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(read_eval_manifest((d.path / "missing.jsonl").string()), tips::DataError);
  EXPECT_THROW(read_class_names((d.path / "test.jsonl").string()), tips::DataError);  // no classes.txt
  d.write("classes.txt", "t-shirt\ntrouser\r\n\nbag\n");
  EXPECT_EQ(read_class_names((d.path / "test.jsonl").string()), (std::vector<std::string>{"t-shirt", "trouser", "bag"}));
}

TEST(EvalSet, LoadsImagesAndLabelMaps) {
  TempDir d;
  // A 4x4 RGB image: red left half, blue right half; a 4x4 label map.
  auto rgb = torch::zeros({4, 4, 3}, torch::kUInt8);
  rgb.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 2), 0}, 255);
  rgb.index_put_({torch::indexing::Slice(), torch::indexing::Slice(2, 4), 2}, 51);
  write_png((d.path / "images/0.png").string(), rgb);
  const auto labels = torch::arange(16, torch::kLong).view({4, 4}) % 11;
  write_png((d.path / "mask.png").string(), labels.to(torch::kUInt8));
  const auto m = d.write("s.jsonl", "{\"image\": \"images/0.png\"}\n{\"image\": \"images/0.png\"}\n");
  const auto s = read_eval_manifest(m.string());
  const auto x = load_images(s.records, 1, 2, 4);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), 1.0f);   // R of a red pixel
  EXPECT_FLOAT_EQ(x[0][2][0][3].item<float>(), 0.2f);   // B of a blue pixel
  EXPECT_FLOAT_EQ(x[0][1].sum().item<float>(), 0.0f);   // no green anywhere
  const auto up = load_images(s.records, 0, 1, 8);
  ASSERT_EQ(up.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_GE(up.min().item<float>(), 0.0f);
  EXPECT_LE(up.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(read_label_map((d.path / "mask.png").string()), labels));
  EXPECT_THROW(read_label_map((d.path / "images/0.png").string()), tips::DataError);  // 3 channels
  EXPECT_THROW(load_images({{(d.path / "nope.png").string(), "", -1, {}}}, 0, 1, 4), tips::DataError);
}

}  // namespace
