#include "tips/data/manifest_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "source_test_util.h"
#include "tips/core/error.h"

namespace {

using tips::data::ManifestFields;
using tips::data::ManifestSource;
using tips::data::testing::rest_of_epoch;
using tips::data::testing::take_keys;
using tips::data::testing::TempDir;

TEST(Manifest, JsonlFieldsLabelsAndRelativePaths) {
  TempDir dir;
  dir.write("sub/img/a.png", "PNG-A");
  const std::string abs_b = dir.write("elsewhere/b.jpg", "JPEG-B");
  const std::string manifest = dir.write(
      "sub/m.jsonl",
      "{\"image\": \"img/a.png\", \"alt_text\": \"red shoe\", \"caption_long\": \"a long one\", \"label\": 3,"
      " \"mask\": \"masks/a.png\", \"width\": 112, \"empty\": \"\"}\n"
      "\n"
      "{\"image\": \"" + abs_b + "\", \"label\": null, \"caption_medium\": \"two bags\"}\n");
  ManifestSource src(manifest, ManifestFields{}, /*seed=*/1, /*rank=*/0, /*world_size=*/1);
  ASSERT_EQ(src.num_records(), 2);

  const auto a = src.read_record(0);
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(a.sample.key, "m.jsonl:1");
  EXPECT_EQ(a.sample.image_path, dir / "sub/img/a.png");
  EXPECT_EQ(a.sample.image_bytes, "PNG-A");
  EXPECT_EQ(a.sample.label, 3);
  EXPECT_EQ(a.sample.label_map_path, dir / "sub/masks/a.png");
  const std::map<std::string, std::string> want_a{{"alt_text", "red shoe"}, {"caption_long", "a long one"}};
  EXPECT_EQ(a.sample.captions, want_a);  // numbers, empty strings, image/label/mask keys are not captions

  const auto b = src.read_record(1);
  EXPECT_EQ(b.error, "");
  EXPECT_EQ(b.sample.key, "m.jsonl:3");   // the blank line 2 is skipped but still counted
  EXPECT_EQ(b.sample.image_path, abs_b);  // absolute paths are kept
  EXPECT_EQ(b.sample.image_bytes, "JPEG-B");
  EXPECT_EQ(b.sample.label, -1);
  EXPECT_EQ(b.sample.label_map_path, "");
  EXPECT_EQ(b.sample.captions.at("caption_medium"), "two bags");
}

TEST(Manifest, CustomFieldNames) {
  TempDir dir;
  dir.write("x.png", "X");
  const std::string manifest = dir.write("m.jsonl", "{\"path\": \"x.png\", \"cls\": 7, \"label\": \"a caption now\"}\n");
  ManifestFields fields;
  fields.image_field = "path";
  fields.label_field = "cls";
  ManifestSource src(manifest, fields, 1, 0, 1);
  const auto item = src.read_record(0);
  EXPECT_EQ(item.error, "");
  EXPECT_EQ(item.sample.label, 7);
  EXPECT_EQ(item.sample.captions.at("label"), "a caption now");
}

TEST(Manifest, SplitDelimitedHandlesQuotes) {
  const struct {
    std::string record;
    char delimiter;
    std::vector<std::string> fields;
    bool ok;
  } cases[] = {
      {"a,b,c", ',', {"a", "b", "c"}, true},
      {"a,,c", ',', {"a", "", "c"}, true},
      {"\"x, y\",z", ',', {"x, y", "z"}, true},
      {"\"say \"\"hi\"\"\",2", ',', {"say \"hi\"", "2"}, true},
      {"\"two\nlines\",3\r", ',', {"two\nlines", "3"}, true},
      {"a\tb,c\t", '\t', {"a", "b,c", ""}, true},
      {"\"open,b", ',', {"open,b"}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.record);
    std::vector<std::string> got;
    EXPECT_EQ(tips::data::split_delimited(c.record, c.delimiter, got), c.ok);
    if (c.ok) EXPECT_EQ(got, c.fields);
  }
}

TEST(Manifest, CsvAndTsvWithHeaderAndMultilineFields) {
  TempDir dir;
  dir.write("imgs/0.png", "P0");
  dir.write("imgs/1.png", "P1");
  dir.write("imgs/2.png", "P2");
  const std::string csv = dir.write("m.csv",
                                    "alt_text,image,label,caption_medium\n"
                                    "\"shoe, red\",imgs/0.png,4,\"a \"\"nice\"\" shoe\"\n"
                                    "\"multi\nline\",imgs/1.png,,\n"
                                    "plain,imgs/2.png, 9 ,medium\n");
  ManifestSource src(csv, ManifestFields{}, 1, 0, 1);
  ASSERT_EQ(src.num_records(), 3);
  const struct {
    int64_t index;
    std::string key, image, alt;
    int64_t label;
    size_t num_captions;
  } cases[] = {{0, "m.csv:2", "imgs/0.png", "shoe, red", 4, 2},
               {1, "m.csv:3", "imgs/1.png", "multi\nline", -1, 1},
               {2, "m.csv:5", "imgs/2.png", "plain", 9, 2}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    const auto item = src.read_record(c.index);
    EXPECT_EQ(item.error, "");
    EXPECT_EQ(item.sample.key, c.key);
    EXPECT_EQ(item.sample.image_path, dir / c.image);
    EXPECT_EQ(item.sample.captions.at("alt_text"), c.alt);
    EXPECT_EQ(item.sample.label, c.label);
    EXPECT_EQ(item.sample.captions.size(), c.num_captions);
  }
  EXPECT_EQ(src.read_record(0).sample.captions.at("caption_medium"), "a \"nice\" shoe");

  const std::string tsv = dir.write("m.tsv", "image\tcaption_long\nimgs/2.png\tcomma, inside\n");
  ManifestSource tsrc(tsv, ManifestFields{}, 1, 0, 1);
  const auto t = tsrc.read_record(0);
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.sample.image_bytes, "P2");
  EXPECT_EQ(t.sample.captions.at("caption_long"), "comma, inside");
}

TEST(Manifest, BadRecordsBecomeErrorItemsAndTheStreamContinues) {
  TempDir dir;
  dir.write("ok.png", "OK");
  dir.write("empty.png", "");
  const struct {
    std::string line, error_part;
  } cases[] = {
      {"{\"image\": ", "invalid JSON"},
      {"{\"image\": 5}", "'image' must be a path string"},
      {"{\"image\": \"ok.png\", \"label\": \"x\"}", "'label' must be an integer"},
      {"{\"image\": \"ok.png\", \"label\": 2.5}", "'label' must be an integer"},
      {"{\"image\": \"ok.png\", \"mask\": [1]}", "'mask' must be a path string"},
      {"[1, 2]", "expected a JSON object, got array"},
      {"{\"alt_text\": \"no image\"}", "no 'image' path"},
      {"{\"image\": \"nope.png\"}", "image file not found"},
      {"{\"image\": \"empty.png\"}", "empty image file"},
      {"{\"image\": \"ok.png\", \"alt_text\": \"fine\"}", ""},
  };
  std::string text;
  for (const auto& c : cases) text += c.line + "\n";
  const std::string manifest = dir.write("bad.jsonl", text);
  ManifestSource src(manifest, ManifestFields{}, 3, 0, 1);
  ASSERT_EQ(src.num_records(), static_cast<int64_t>(std::size(cases)));
  for (size_t i = 0; i < std::size(cases); ++i) {
    SCOPED_TRACE(cases[i].line);
    const auto item = src.read_record(static_cast<int64_t>(i));
    if (cases[i].error_part.empty()) {
      EXPECT_EQ(item.error, "");
      EXPECT_EQ(item.sample.image_bytes, "OK");
    } else {
      EXPECT_NE(item.error.find(cases[i].error_part), std::string::npos) << item.error;
      EXPECT_EQ(item.error.rfind("bad.jsonl:" + std::to_string(i + 1) + ": ", 0), 0u) << item.error;
    }
  }
  // Through next(): a whole epoch and the start of the next, without throwing.
  std::vector<std::string> errors;
  EXPECT_EQ(rest_of_epoch(src, &errors).size(), std::size(cases));
  EXPECT_EQ(errors.size(), std::size(cases) - 1);
  EXPECT_EQ(src.state().epoch, 1);
}

TEST(Manifest, MissingOrEmptyManifestThrows) {
  TempDir dir;
  dir.write("blank.jsonl", "\n  \n");
  dir.write("header_only.csv", "image,alt_text\n");
  dir.write("no_image_col.csv", "path,alt_text\na.png,x\n");
  dir.write("two.jsonl", "{\"image\": \"a\"}\n{\"image\": \"b\"}\n");
  dir.write("m.parquet", "x");
  const struct {
    std::string file;
    int world;
  } cases[] = {{"missing.jsonl", 1}, {"blank.jsonl", 1},  {"header_only.csv", 1},
               {"no_image_col.csv", 1}, {"m.parquet", 1}, {"two.jsonl", 3}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    EXPECT_THROW(ManifestSource(dir / c.file, ManifestFields{}, 1, 0, c.world), tips::DataError);
  }
}

// A manifest of n good records; returns its path.
std::string write_manifest(const TempDir& dir, int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    dir.write("img/" + std::to_string(i) + ".png", "P" + std::to_string(i));
    text += "{\"image\": \"img/" + std::to_string(i) + ".png\", \"alt_text\": \"item " + std::to_string(i) + "\"}\n";
  }
  return dir.write("m.jsonl", text);
}

TEST(Manifest, SeededOrderIsDeterministicAndChangesPerEpoch) {
  TempDir dir;
  const std::string m = write_manifest(dir, 10);
  ManifestSource a(m, ManifestFields{}, 7, 0, 1), b(m, ManifestFields{}, 7, 0, 1), c(m, ManifestFields{}, 8, 0, 1);
  const auto ka = take_keys(a, 20), kb = take_keys(b, 20), kc = take_keys(c, 20);
  EXPECT_EQ(ka, kb);
  EXPECT_NE(ka, kc);
  const std::vector<std::string> epoch0(ka.begin(), ka.begin() + 10), epoch1(ka.begin() + 10, ka.end());
  EXPECT_NE(epoch0, epoch1);
  EXPECT_EQ(std::set<std::string>(epoch0.begin(), epoch0.end()).size(), 10u);  // a permutation
  EXPECT_EQ(std::set<std::string>(epoch1.begin(), epoch1.end()).size(), 10u);
  EXPECT_EQ(a.state().epoch, 1);  // the roll-over to epoch 2 happens at the next call
  EXPECT_EQ(a.state().position, 10);
}

TEST(Manifest, RanksPartitionEachEpochByStriding) {
  TempDir dir;
  const std::string m = write_manifest(dir, 10);
  ManifestSource single(m, ManifestFields{}, 5, 0, 1);
  const auto global = take_keys(single, 10);
  for (int world : {1, 2, 3, 4}) {
    std::multiset<std::string> seen;
    for (int rank = 0; rank < world; ++rank) {
      SCOPED_TRACE("world " + std::to_string(world) + " rank " + std::to_string(rank));
      ManifestSource src(m, ManifestFields{}, 5, rank, world);
      EXPECT_EQ(src.epoch_size(), (10 - rank + world - 1) / world);
      const auto keys = take_keys(src, static_cast<int>(src.epoch_size()));
      for (size_t k = 0; k < keys.size(); ++k) EXPECT_EQ(keys[k], global[rank + world * k]);  // r, r+W, ...
      seen.insert(keys.begin(), keys.end());
    }
    EXPECT_EQ(seen, std::multiset<std::string>(global.begin(), global.end()));
  }
}

TEST(Manifest, RestoreContinuesExactly) {
  TempDir dir;
  const std::string m = write_manifest(dir, 9);
  for (int consumed : {0, 3, 4, 5}) {  // rank 1 of 2 has 4 records: 4 resumes exactly at the boundary
    SCOPED_TRACE(consumed);
    ManifestSource a(m, ManifestFields{}, 11, 1, 2);
    take_keys(a, consumed);
    const auto state = a.state();
    const auto expected = take_keys(a, 12);  // crosses into later epochs
    ManifestSource b(m, ManifestFields{}, 11, 1, 2);
    b.restore(state);
    EXPECT_EQ(take_keys(b, 12), expected);
  }
  ManifestSource c(m, ManifestFields{}, 11, 0, 2);
  EXPECT_THROW(c.restore({0, 6}), tips::DataError);  // rank 0 of 2 has 5 records
  EXPECT_NO_THROW(c.restore({3, 5}));
}

}  // namespace
