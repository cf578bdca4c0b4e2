#include "tips/data/fashion_mosaic.h"

#include <gtest/gtest.h>

#include <set>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "source_test_util.h"
#include "tips/core/error.h"
#include "tips/data/manifest_source.h"

namespace {

namespace td = tips::data;
using td::testing::TempDir;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// n synthetic 28x28 items: a random rectangle of random intensities (some exactly 255) on black; label i % 10.
td::FashionMnist synthetic_pool(int n, uint64_t seed) {
  td::FashionMnist pool;
  tips::rng::SplitMix r(seed);
  pool.pixels.assign(static_cast<size_t>(n * 28 * 28), 0);
  for (int i = 0; i < n; ++i) {
    pool.labels.push_back(static_cast<uint8_t>(i % 10));
    const int64_t x0 = r.randint(0, 10), y0 = r.randint(0, 10), x1 = r.randint(18, 28), y1 = r.randint(18, 28);
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x)
        pool.pixels[i * 784 + y * 28 + x] = static_cast<uint8_t>(r.bernoulli(0.3) ? 255 : r.randint(0, 256));
  }
  return pool;
}

// Writes pool as plain (not gzipped) idx files <dir>/<prefix>-{images-idx3,labels-idx1}-ubyte.
void write_idx(const std::string& dir, const std::string& prefix, const td::FashionMnist& pool) {
  std::ofstream img(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  img << be32(0x803) << be32(pool.size()) << be32(28) << be32(28);
  img.write(reinterpret_cast<const char*>(pool.pixels.data()), static_cast<std::streamsize>(pool.pixels.size()));
  std::ofstream lbl(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  lbl << be32(0x801) << be32(pool.size());
  lbl.write(reinterpret_cast<const char*>(pool.labels.data()), static_cast<std::streamsize>(pool.labels.size()));
}

// Second implementation of the label map: bilinear (half-pixel centres) in float64, threshold, paint in order.
std::vector<uint8_t> expected_label_map(const td::MosaicCanvasSpec& spec, const td::FashionMnist& pool, int threshold) {
  std::vector<uint8_t> map(static_cast<size_t>(spec.canvas * spec.canvas), 0);
  for (const auto& it : spec.items) {
    const uint8_t* src = pool.image(it.source_index);
    // (y + 0.5) * 28 / size in this order, as the generator: a value landing on .5 must round the same way.
    for (int64_t y = 0; y < it.size; ++y) {
      for (int64_t x = 0; x < it.size; ++x) {
        const double sy = std::min(std::max((y + 0.5) * 28.0 / static_cast<double>(it.size) - 0.5, 0.0), 27.0);
        const double sx = std::min(std::max((x + 0.5) * 28.0 / static_cast<double>(it.size) - 0.5, 0.0), 27.0);
        const int y0 = static_cast<int>(std::floor(sy)), x0 = static_cast<int>(std::floor(sx));
        const int y1 = std::min(y0 + 1, 27), x1 = std::min(x0 + 1, 27);
        const double fy = sy - y0, fx = sx - x0;
        const double v = (1 - fy) * ((1 - fx) * src[y0 * 28 + x0] + fx * src[y0 * 28 + x1]) +
                         fy * ((1 - fx) * src[y1 * 28 + x0] + fx * src[y1 * 28 + x1]);
        if (std::lround(v) > threshold) map[(it.y + y) * spec.canvas + it.x + x] = static_cast<uint8_t>(it.label + 1);
      }
    }
  }
  return map;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(FashionMnistIdx, LoadsPlainIdxAndRejectsBadFiles) {
  TempDir dir;
  const auto pool = synthetic_pool(12, 1);
  write_idx(dir.str(), "train", pool);
  const auto loaded = td::load_fashion_mnist(dir.str(), "train");
  EXPECT_EQ(loaded.size(), 12);
  EXPECT_EQ(loaded.rows, 28);
  EXPECT_EQ(loaded.pixels, pool.pixels);
  EXPECT_EQ(loaded.labels, pool.labels);
  EXPECT_THROW(td::load_fashion_mnist(dir.str(), "t10k"), tips::DataError);  // missing files
  dir.write("bad-images-idx3-ubyte", be32(0x801) + be32(0) + be32(28) + be32(28));
  dir.write("bad-labels-idx1-ubyte", be32(0x801) + be32(0));
  EXPECT_THROW(td::load_fashion_mnist(dir.str(), "bad"), tips::DataError);  // wrong image magic
  dir.write("short-images-idx3-ubyte", be32(0x803) + be32(2) + be32(28) + be32(28) + std::string(100, '\0'));
  dir.write("short-labels-idx1-ubyte", be32(0x801) + be32(2) + std::string(2, '\0'));
  EXPECT_THROW(td::load_fashion_mnist(dir.str(), "short"), tips::DataError);  // fewer pixels than 2 x 784
}

TEST(FashionMnistIdx, RealTestSplitHasThousandPerClass) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST at " << dir;
  const auto test = td::load_fashion_mnist(dir, "t10k");
  ASSERT_EQ(test.size(), 10000);
  std::vector<int> counts(10, 0);
  for (auto l : test.labels) ++counts[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c], 1000) << td::kFashionClasses[c];
}

TEST(FashionMosaic, LabelMapAndPixelsMatchItemsAtUnitScale) {
  const auto pool = synthetic_pool(30, 2);
  td::MosaicLayout layout;
  layout.canvas = 64;
  layout.item_min = layout.item_max = 28;  // no interpolation: item pixels are the source pixels
  for (uint64_t seed = 0; seed < 25; ++seed) {
    SCOPED_TRACE(seed);
    tips::rng::SplitMix r(seed);
    const auto spec = td::draw_canvas(layout, pool, /*single=*/false, -1, r);
    ASSERT_GE(spec.items.size(), 1u);
    ASSERT_LE(spec.items.size(), 4u);
    EXPECT_EQ(spec.label, spec.items[0].label);  // all items equal in size: the first is "largest"
    for (const auto& it : spec.items)  // never a blue item on dark blue, gray on dark gray, ...
      EXPECT_EQ(std::string(td::kMosaicBackgrounds[spec.background].name).find(td::kMosaicColors[it.color].name),
                std::string::npos);
    std::vector<uint8_t> rgb, map;
    td::render_canvas(layout, spec, pool, rgb, map);
    std::vector<uint8_t> want(64 * 64, 0);
    for (const auto& it : spec.items)
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const uint8_t v = pool.image(it.source_index)[y * 28 + x];
          const int64_t p = (it.y + y) * 64 + it.x + x;
          if (v > layout.threshold) want[p] = static_cast<uint8_t>(it.label + 1);
          if (v == 255 && &it == &spec.items.back()) {  // fully opaque top item: exactly its colour
            const auto& c = td::kMosaicColors[it.color];
            EXPECT_EQ(rgb[p * 3 + 0], c.r);
            EXPECT_EQ(rgb[p * 3 + 1], c.g);
            EXPECT_EQ(rgb[p * 3 + 2], c.b);
          }
        }
    EXPECT_EQ(map, want);
  }
}

td::MosaicCanvasSpec spec_of(std::vector<td::MosaicItem> items, int background = 0, bool textured = false) {
  td::MosaicCanvasSpec s;
  s.canvas = 112;
  s.items = std::move(items);
  s.background = background;
  s.textured = textured;
  return s;
}

TEST(FashionMosaic, CaptionsNameEveryItemWithColourSizeAndPosition) {
  // MosaicItem: source, label, x, y, size, color (0 red, 2 blue, 4 orange, 6 pink, 7 white, 8 gray)
  const struct {
    td::MosaicCanvasSpec spec;
    std::string medium;
    std::vector<std::string> long_parts;
  } cases[] = {
      {spec_of({{0, 7, 0, 0, 30, 0}, {0, 8, 40, 40, 50, 2}}), "a red sneaker and a blue bag",
       {"a small red sneaker at the top left", "a large blue bag in the center", "a plain black background"}},
      {spec_of({{0, 7, 80, 0, 30, 0}, {0, 7, 0, 80, 30, 0}, {0, 8, 0, 40, 30, 4}}, 1, true),
       "two red sneakers and an orange bag",
       {"a small red sneaker at the top right", "a small red sneaker at the bottom left",
        "a small orange bag on the left", "a textured dark gray background"}},
      {spec_of({{0, 9, 60, 60, 52, 7}, {0, 3, 0, 0, 28, 6}, {0, 0, 84, 0, 28, 8}}, 3),
       "a white ankle boot, a pink dress and a gray t-shirt",
       {"a large white ankle boot at the bottom right", "a small pink dress at the top left",
        "a small gray t-shirt at the top right", "dark green background"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.medium);
    tips::rng::SplitMix r(3);
    const auto caps = td::make_captions(c.spec, r, td::CaptionStyle::web_noisy());
    EXPECT_EQ(caps.caption_medium, c.medium);
    for (const auto& part : c.long_parts) EXPECT_TRUE(contains(caps.caption_long, part)) << caps.caption_long;
    EXPECT_FALSE(caps.alt_text.empty());
  }
}

TEST(FashionMosaic, AltTextIsWrongAboutTenPercentOfTheTime) {
  const auto spec = spec_of({{0, 7, 0, 0, 40, 0}});  // a lone red sneaker
  tips::rng::SplitMix r(17);
  const int n = 4000;
  int wrong = 0, names_sneaker = 0;
  for (int i = 0; i < n; ++i) {
    const auto alt = td::make_captions(spec, r, td::CaptionStyle::web_noisy()).alt_text;
    bool other = false;
    for (const char* cls : td::kFashionClasses) other |= std::string(cls) != "sneaker" && contains(alt, cls);
    wrong += other;
    names_sneaker += contains(alt, "sneaker");
  }
  EXPECT_NEAR(wrong / double(n), 0.10, 0.02);          // 0.10 by construction; 4 sigma = 0.019
  EXPECT_NEAR(names_sneaker / double(n), 0.65, 0.03);  // one-item 35% + class list 30%
}

bool names_a_colour(const std::string& text) {
  for (const auto& c : td::kMosaicColors)
    if (contains(" " + text + " ", std::string(" ") + c.name + " ")) return true;
  return false;
}

TEST(FashionMosaic, CaptionColoursCanBeLimitedToTheLongCaptionOrDropped) {
  // A small red sneaker and a large blue bag on plain black (no colour word in the background's name).
  const auto spec = spec_of({{0, 7, 0, 0, 30, 0}, {0, 8, 40, 40, 50, 2}});
  auto long_only = td::CaptionStyle::web_noisy(), none = td::CaptionStyle::web_noisy();
  long_only.colors = td::CaptionColors::kLongOnly;
  none.colors = td::CaptionColors::kNone;
  tips::rng::SplitMix r(3);
  for (int i = 0; i < 200; ++i) {
    const auto a = td::make_captions(spec, r, long_only);
    EXPECT_EQ(a.caption_medium, "a sneaker and a bag");
    EXPECT_TRUE(contains(a.caption_long, "a small red sneaker at the top left")) << a.caption_long;
    EXPECT_FALSE(names_a_colour(a.alt_text)) << a.alt_text;
    const auto b = td::make_captions(spec, r, none);
    EXPECT_EQ(b.caption_medium, "a sneaker and a bag");
    EXPECT_TRUE(contains(b.caption_long, "a large bag in the center")) << b.caption_long;
    EXPECT_FALSE(names_a_colour(b.caption_long) || names_a_colour(b.alt_text)) << b.caption_long << " | " << b.alt_text;
  }
  // Items that differ only by colour are counted together once colours are not named.
  const auto two = spec_of({{0, 7, 0, 0, 30, 0}, {0, 7, 80, 80, 30, 2}});
  EXPECT_EQ(td::make_captions(two, r, none).caption_medium, "two sneakers");
  EXPECT_EQ(td::make_captions(two, r, td::CaptionStyle::web_noisy()).caption_medium,
            "a red sneaker and a blue sneaker");
  EXPECT_EQ(td::make_captions(two, r).caption_medium, "two sneakers");  // the default names no colours
}

TEST(FashionMosaic, AltTextSubjectAndNoiseFractions) {
  // A small sneaker and a large bag: "largest" one-item alt-texts name the bag only.
  const auto spec = spec_of({{0, 7, 0, 0, 30, 0}, {0, 8, 40, 40, 50, 2}});
  const int n = 4000;
  auto fractions = [&](const td::CaptionStyle& style) {
    tips::rng::SplitMix r(29);
    std::array<double, 3> f{};  // names the bag, names the sneaker, names neither
    for (int i = 0; i < n; ++i) {
      const auto alt = td::make_captions(spec, r, style).alt_text;
      const bool bag = contains(alt, "bag"), sneaker = contains(alt, "sneaker");
      f[0] += bag, f[1] += sneaker, f[2] += !bag && !sneaker;
    }
    for (auto& v : f) v /= n;
    return f;
  };
  const auto clean = fractions(td::CaptionStyle{});  // the default: the largest item, no wrong or generic ones
  EXPECT_DOUBLE_EQ(clean[0], 1.0);            // one item (35 %) = the bag, else the list of both
  EXPECT_NEAR(clean[1], 0.65, 0.03);          // 4 sigma = 0.030
  EXPECT_DOUBLE_EQ(clean[2], 0.0);
  const auto noisy = fractions(td::CaptionStyle::web_noisy());  // random item, 10 % wrong, 25 % generic
  EXPECT_NEAR(noisy[0], 0.30 + 0.35 / 2, 0.03);
  EXPECT_NEAR(noisy[2], 0.35, 0.03);
  td::CaptionStyle too_noisy;
  too_noisy.alt_wrong = 0.4;
  too_noisy.alt_generic = 0.3;
  EXPECT_THROW(td::validate(too_noisy), tips::DataError);
  too_noisy.alt_generic = -0.1;
  EXPECT_THROW(td::validate(too_noisy), tips::DataError);
  EXPECT_NO_THROW(td::validate(td::CaptionStyle{}));
  EXPECT_NO_THROW(td::validate(td::CaptionStyle::web_noisy()));
}

struct Generated {
  TempDir dir;
  td::FashionMnist train, test;
  td::MosaicOptions opts;
  Generated() {
    train = synthetic_pool(40, 11);
    test = synthetic_pool(15, 12);
    write_idx(dir.str(), "train", train);
    write_idx(dir.str(), "t10k", test);
    opts.out_dir = dir / "out";
    opts.mnist_dir = dir.str();
    opts.size = 64;
    opts.train_count = 6;
    opts.test_count = 3;
    opts.single_train_count = 5;
    opts.single_test_count = 3;
    opts.val_count = 2;
    opts.single_val_count = 2;
    opts.seed = 5;
    opts.threads = 2;
    opts.captions = td::CaptionStyle::web_noisy();  // colour words let the tests find each item in the captions
  }
};

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(FashionMosaic, GeneratedFilesMatchTheRederivedPlacement) {
  Generated g;
  const auto report = td::generate_fashion_mosaic(g.opts);
  EXPECT_FALSE(report.skipped);
  EXPECT_EQ(report.images, 6 + 3 + 5 + 3 + 2 + 2);
  const auto layout = td::layout_for_size(64);
  // Train canvases draw from the first 34 of the 40 train images, val canvases from the last 6 only.
  const auto [train_pool, val_pool] = td::split_train_val(g.train);
  ASSERT_EQ(train_pool.size(), 34);
  ASSERT_EQ(val_pool.size(), 6);
  EXPECT_EQ(val_pool.labels[0], g.train.labels[34]);
  const struct {
    std::string split;
    td::MosaicSplit id;
    int count;
    const td::FashionMnist* pool;
  } splits[] = {{"train", td::MosaicSplit::kTrain, 6, &train_pool},
                {"val", td::MosaicSplit::kVal, 2, &val_pool},
                {"test", td::MosaicSplit::kTest, 3, &g.test}};
  for (const auto& s : splits) {
    const auto lines = read_jsonl(g.opts.out_dir + "/" + s.split + ".jsonl");
    ASSERT_EQ(lines.size(), static_cast<size_t>(s.count));
    for (int i = 0; i < s.count; ++i) {
      SCOPED_TRACE(s.split + " " + std::to_string(i));
      tips::rng::SplitMix r(tips::rng::derive(5, static_cast<uint64_t>(s.id), i));
      const auto spec = td::draw_canvas(layout, *s.pool, false, -1, r);
      const auto& line = lines[i];
      EXPECT_EQ(line["label"].get<int64_t>(), spec.label);
      const auto map = td::load_label_map(g.opts.out_dir + "/" + line["mask"].get<std::string>());
      ASSERT_EQ(map.height, 64);
      ASSERT_EQ(map.width, 64);
      EXPECT_EQ(map.labels, expected_label_map(spec, *s.pool, layout.threshold));
      for (const auto& it : spec.items) {
        const std::string cls = td::kFashionClasses[it.label], color = td::kMosaicColors[it.color].name;
        EXPECT_TRUE(contains(line["caption_medium"].get<std::string>(), color + " " + cls)) << line.dump();
        EXPECT_TRUE(contains(line["caption_long"].get<std::string>(), color + " " + cls)) << line.dump();
        EXPECT_TRUE(contains(line["caption_long"].get<std::string>(), td::position_name(it, 64)));
      }
      EXPECT_FALSE(line["alt_text"].get<std::string>().empty());
    }
  }
  // Single items: centred, label = the item's class, distinct source images.
  const auto singles = read_jsonl(g.opts.out_dir + "/single_train.jsonl");
  ASSERT_EQ(singles.size(), 5u);
  for (const auto& line : singles) {
    const auto map = td::load_label_map(g.opts.out_dir + "/" + line["mask"].get<std::string>());
    int64_t xmin = 64, xmax = -1, count = 0;
    for (int64_t p = 0; p < 64 * 64; ++p)
      if (map.labels[p]) {
        EXPECT_EQ(map.labels[p], line["label"].get<int64_t>() + 1);
        xmin = std::min(xmin, p % 64), xmax = std::max(xmax, p % 64), ++count;
      }
    EXPECT_GT(count, 0);
    EXPECT_GE(xmin, (64 - 32) / 2);  // centred: inside the middle item_max = 32 columns
    EXPECT_LE(xmax, (64 + 32) / 2 - 1);
    EXPECT_TRUE(contains(line["caption_medium"].get<std::string>(), td::kFashionClasses[line["label"].get<int>()]));
  }
  // Side files and the manifest as a source.
  std::istringstream classes(slurp(g.opts.out_dir + "/classes.txt"));
  for (const char* name : td::kFashionClasses) {
    std::string got;
    std::getline(classes, got);
    EXPECT_EQ(got, name);
  }
  const std::string corpus = slurp(g.opts.out_dir + "/corpus.txt");
  EXPECT_EQ(std::count(corpus.begin(), corpus.end(), '\n'), 3 * (6 + 5));  // train + single_train, 3 fields
  EXPECT_EQ(slurp(g.opts.out_dir + "/train_all.jsonl"),
            slurp(g.opts.out_dir + "/train.jsonl") + slurp(g.opts.out_dir + "/single_train.jsonl"));
  td::DataConfig cfg;
  cfg.path = g.opts.out_dir + "/test.jsonl";
  auto src = td::open_source(cfg, 1, 0, 1);
  EXPECT_EQ(src->epoch_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto item = src->next();
    EXPECT_EQ(item.error, "");
    EXPECT_EQ(item.sample.image_bytes.substr(1, 3), "PNG");
    EXPECT_EQ(item.sample.captions.size(), 3u);
    EXPECT_TRUE(std::filesystem::exists(item.sample.label_map_path));
  }
}

TEST(FashionMosaic, ItemSizeFractionsSetTheLayoutAndAreRecorded) {
  const auto d = td::layout_for_size(112);  // the default: a quarter to half the canvas side
  EXPECT_EQ(d.item_min, 28);
  EXPECT_EQ(d.item_max, 56);
  const auto big = td::layout_for_size(112, 0.375, 0.625);
  EXPECT_EQ(big.item_min, 42);
  EXPECT_EQ(big.item_max, 70);
  EXPECT_THROW(td::layout_for_size(112, 0.6, 0.5), tips::DataError);
  EXPECT_THROW(td::layout_for_size(112, 0.0, 0.5), tips::DataError);
  EXPECT_THROW(td::layout_for_size(112, 0.5, 1.5), tips::DataError);

  Generated g;
  auto o = g.opts;  // 64 px canvases: items 24..40 px, single items 30..40 px
  o.item_min_fraction = 0.375;
  o.item_max_fraction = 0.625;
  td::generate_fashion_mosaic(o);
  EXPECT_TRUE(contains(slurp(o.out_dir + "/meta.json"), "\"item_fraction\""));
  const auto layout = td::layout_for_size(64, 0.375, 0.625);
  const auto lines = read_jsonl(o.out_dir + "/train.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  const auto train_pool = td::split_train_val(g.train).first;
  for (int i = 0; i < 6; ++i) {  // the written label maps are the re-derived placements at this layout
    tips::rng::SplitMix r(tips::rng::derive(5, static_cast<uint64_t>(td::MosaicSplit::kTrain), i));
    const auto spec = td::draw_canvas(layout, train_pool, false, -1, r);
    for (const auto& it : spec.items) EXPECT_TRUE(it.size >= 24 && it.size <= 40) << it.size;
    EXPECT_EQ(td::load_label_map(o.out_dir + "/" + lines[i]["mask"].get<std::string>()).labels,
              expected_label_map(spec, train_pool, layout.threshold));
  }
  auto plain = g.opts;  // the default fractions are not recorded
  plain.out_dir = g.dir / "plain";
  td::generate_fashion_mosaic(plain);
  EXPECT_FALSE(contains(slurp(plain.out_dir + "/meta.json"), "item_fraction"));
}

// Grid placement: min..max items, one per cell of the 2x2 grid (never overlapping, inside their cell), position
// words that name the cell, and impossible grids refused.
TEST(FashionMosaic, GridPlacementFillsDistinctCells) {
  td::MosaicOptions o;
  o.size = 64;
  o.item_min_fraction = 0.375;
  o.item_max_fraction = 0.5;
  o.placement = td::MosaicPlacement::kGrid;
  o.min_items = 3;
  o.max_items = 4;
  o.label_threshold = 32;
  const auto layout = td::layout_for(o);
  EXPECT_EQ(layout.threshold, 32);
  const auto pool = synthetic_pool(20, 3);
  int counts[5] = {0, 0, 0, 0, 0};
  for (uint64_t i = 0; i < 200; ++i) {
    tips::rng::SplitMix r(tips::rng::derive(9, i));
    const auto spec = td::draw_canvas(layout, pool, false, -1, r);
    ASSERT_GE(spec.items.size(), 3u);
    ASSERT_LE(spec.items.size(), 4u);
    ++counts[spec.items.size()];
    std::set<int64_t> cells;
    for (const auto& it : spec.items) {
      EXPECT_TRUE(it.size >= 24 && it.size <= 32) << it.size;
      const int64_t cx = it.x / 32, cy = it.y / 32;
      EXPECT_EQ((it.x + it.size - 1) / 32, cx);  // inside its cell
      EXPECT_EQ((it.y + it.size - 1) / 32, cy);
      cells.insert(cy * 2 + cx);
      const char* names[] = {"top left", "top right", "bottom left", "bottom right"};
      EXPECT_EQ(td::position_name(it, 64), names[cy * 2 + cx]);
    }
    EXPECT_EQ(cells.size(), spec.items.size());  // distinct cells
  }
  EXPECT_GT(counts[3], 50);
  EXPECT_GT(counts[4], 50);
  auto bad = o;
  bad.max_items = 5;  // more items than cells
  EXPECT_THROW(td::layout_for(bad), tips::DataError);
  bad = o;
  bad.item_max_fraction = 0.6;  // items larger than a cell
  EXPECT_THROW(td::layout_for(bad), tips::DataError);
  bad = o;
  bad.min_items = 5;
  EXPECT_THROW(td::layout_for(bad), tips::DataError);
}

// The class-colour diagnostic: each item painted in its class's colour (opaque pixels exactly that RGB), every
// class its own colour; the option is recorded in meta.json only when set.
TEST(FashionMosaic, ClassColorsPaintEachItemInTheColourOfItsClass) {
  const auto pool = synthetic_pool(30, 4);
  td::MosaicLayout layout;
  layout.canvas = 64;
  layout.item_min = layout.item_max = 28;
  layout.class_colors = true;
  std::set<int64_t> labels_seen;
  for (uint64_t seed = 0; seed < 25; ++seed) {
    SCOPED_TRACE(seed);
    tips::rng::SplitMix r(seed);
    const auto spec = td::draw_canvas(layout, pool, /*single=*/seed % 5 == 0, -1, r);
    std::vector<uint8_t> rgb, map;
    td::render_canvas(layout, spec, pool, rgb, map);
    for (const auto& it : spec.items) {
      EXPECT_EQ(it.color, it.label);
      labels_seen.insert(it.label);
    }
    const auto& top = spec.items.back();
    const auto& want = td::kMosaicColors[static_cast<size_t>(top.label)];
    int opaque = 0;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        if (pool.image(top.source_index)[y * 28 + x] != 255) continue;
        const int64_t p = (top.y + y) * 64 + top.x + x;
        ++opaque;
        EXPECT_EQ(rgb[p * 3 + 0], want.r);
        EXPECT_EQ(rgb[p * 3 + 1], want.g);
        EXPECT_EQ(rgb[p * 3 + 2], want.b);
      }
    EXPECT_GT(opaque, 0);
  }
  EXPECT_EQ(labels_seen.size(), 10u);
  std::set<std::string> names;
  for (const auto& c : td::kMosaicColors) names.insert(c.name);
  EXPECT_EQ(names.size(), 10u);  // ten distinct colours: the colour names the class

  Generated g;
  auto o = g.opts;
  o.class_colors = true;
  td::generate_fashion_mosaic(o);
  EXPECT_TRUE(contains(slurp(o.out_dir + "/meta.json"), "\"class_colors\""));
  EXPECT_TRUE(td::layout_for(o).class_colors);
  auto plain = g.opts;  // off by default, and then not recorded
  plain.out_dir = g.dir / "plain";
  td::generate_fashion_mosaic(plain);
  EXPECT_FALSE(contains(slurp(plain.out_dir + "/meta.json"), "class_colors"));
}

TEST(FashionMosaic, DeterministicFromSeedAndSkipsWhenUpToDate) {
  Generated g;
  auto o = g.opts;
  td::generate_fashion_mosaic(o);
  EXPECT_TRUE(td::generate_fashion_mosaic(o).skipped);
  auto same = o;
  same.out_dir = g.dir / "same";
  same.threads = 1;  // thread count must not matter
  td::generate_fashion_mosaic(same);
  for (const std::string f : {"train.jsonl", "single_test.jsonl", "images/train/000003.png", "masks/test/000001.png"}) {
    SCOPED_TRACE(f);
    EXPECT_EQ(slurp(o.out_dir + "/" + f), slurp(same.out_dir + "/" + f));
  }
  auto other = o;
  other.out_dir = g.dir / "other";
  other.seed = 6;
  td::generate_fashion_mosaic(other);
  EXPECT_NE(slurp(o.out_dir + "/train.jsonl"), slurp(other.out_dir + "/train.jsonl"));
  auto plain = o;  // another caption style is another dataset; the default style is not recorded
  plain.out_dir = g.dir / "plain";
  plain.captions = td::CaptionStyle{};
  td::generate_fashion_mosaic(plain);
  EXPECT_FALSE(contains(slurp(plain.out_dir + "/meta.json"), "captions"));
  EXPECT_TRUE(contains(slurp(o.out_dir + "/meta.json"), "\"colors\": \"all\""));
  EXPECT_EQ(slurp(o.out_dir + "/images/train/000003.png"), slurp(plain.out_dir + "/images/train/000003.png"));
  EXPECT_NE(slurp(o.out_dir + "/train.jsonl"), slurp(plain.out_dir + "/train.jsonl"));
  plain.captions = td::CaptionStyle::web_noisy();
  plain.out_dir = o.out_dir;
  EXPECT_TRUE(td::generate_fashion_mosaic(plain).skipped);
  o.train_count = 4;  // new parameters: regenerate, and stale images go
  EXPECT_FALSE(td::generate_fashion_mosaic(o).skipped);
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/images/train/000005.png"));
  o.force = true;
  EXPECT_FALSE(td::generate_fashion_mosaic(o).skipped);
  td::DataConfig cfg;
  cfg.path = g.dir / "nowhere/train.jsonl";
  EXPECT_THROW(td::open_source(cfg, 1, 0, 1), tips::DataError);
}

}  // namespace
