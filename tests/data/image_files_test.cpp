// data/image_files.h: what `tips embed --images` reads. Expected pixels are written by hand into PNGs
// (lossless), so the decode, the BGR -> RGB swap and the [0, 1] scaling are checked value by value.
#include "tips/data/image_files.h"

#include <gtest/gtest.h>

#include "source_test_util.h"
#include "tips/core/error.h"
#include "tips/data/augment.h"

namespace tips::data {
namespace {

using testing::TempDir;

// A size x size PNG whose pixel (y, x) is RGB (10 * x, 10 * y, 200).
std::string write_png(const TempDir& dir, const std::string& rel, int size) {
  Image img{size, size, {}};
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (const int v : {10 * x, 10 * y, 200}) img.rgb.push_back(static_cast<uint8_t>(v));
  return dir.write(rel, encode_image(img, ".png"));
}

TEST(ImageFiles, FolderListsImagesOfAnyCaseSortedByName) {
  TempDir dir;
  write_png(dir, "b.png", 4);
  write_png(dir, "A.PNG", 4);
  write_png(dir, "c.Jpeg", 4);
  dir.write("notes.txt", "not an image");
  write_png(dir, "sub/d.png", 4);  // sub-folders are not searched
  const auto items = list_image_files(dir.str());
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].name, "A.PNG");
  EXPECT_EQ(items[1].name, "b.png");
  EXPECT_EQ(items[2].name, "c.Jpeg");
  EXPECT_EQ(items[1].path, dir / "b.png");
}

TEST(ImageFiles, ListFileResolvesRelativePathsAgainstItsFolder) {
  TempDir dir;
  const std::string abs = write_png(dir, "elsewhere/x.png", 4);
  write_png(dir, "lists/rel.png", 4);
  const std::string list = dir.write("lists/images.txt", "rel.png\r\n\n" + abs + "\n");
  const auto items = list_image_files(list);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].name, "rel.png");
  EXPECT_EQ(items[0].path, dir / "lists/rel.png");
  EXPECT_EQ(items[1].path, abs);
}

TEST(ImageFiles, NothingToReadIsADataError) {
  TempDir dir;
  dir.write("empty/readme.md", "x");
  EXPECT_THROW(list_image_files(dir / "empty"), DataError);
  EXPECT_THROW(list_image_files(dir / "missing.txt"), DataError);
  EXPECT_THROW(read_image_resized(dir.write("bad.png", "not a png"), 4), DataError);
}

TEST(ImageFiles, DecodesToRgbInUnitRange) {
  TempDir dir;
  const auto t = read_image_resized(write_png(dir, "a.png", 4), 4);  // no resize: exact pixels
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({3, 4, 4}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat);
  EXPECT_FLOAT_EQ(t[0][1][3].item<float>(), 30.0f / 255.0f);  // R = 10 * x
  EXPECT_FLOAT_EQ(t[1][2][3].item<float>(), 20.0f / 255.0f);  // G = 10 * y
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), 200.0f / 255.0f);  // B
}

TEST(ImageFiles, ResizesWithoutCropping) {
  TempDir dir;
  // Shrinking 8 -> 4 with INTER_AREA averages 2x2 blocks: R at output column x is 10 * (2x + 0.5).
  const auto t = read_image_resized(write_png(dir, "a.png", 8), 4);
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({3, 4, 4}));
  for (int x = 0; x < 4; ++x) EXPECT_NEAR(t[0][0][x].item<float>() * 255.0f, 10.0f * (2 * x + 0.5f), 0.51f) << x;
  EXPECT_NEAR(t[2].mean().item<float>(), 200.0f / 255.0f, 1e-6);
}

}  // namespace
}  // namespace tips::data
