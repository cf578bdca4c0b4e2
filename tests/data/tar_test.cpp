#include "tips/data/tar_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "source_test_util.h"
#include "tips/core/error.h"

namespace {

using tips::data::TarSource;
using tips::data::TarSourceOptions;
using tips::data::testing::rest_of_epoch;
using tips::data::testing::take_keys;
using tips::data::testing::TempDir;
using Members = std::vector<std::pair<std::string, std::string>>;  // name -> content, in tar order

// Writes a ustar archive with libarchive's writer.
void write_tar(const std::string& path, const Members& members) {
  archive* a = archive_write_new();
  archive_write_set_format_ustar(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, content] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, content.data(), content.size()), static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// Shard s holds keys "s{s}_{k}" for k < n, each a .jpg ("img:<key>") and a .txt ("caption <key>").
std::vector<std::string> write_shards(const TempDir& dir, int shards, int n, std::set<std::string>* keys = nullptr) {
  std::vector<std::string> paths;
  for (int s = 0; s < shards; ++s) {
    Members m;
    for (int k = 0; k < n; ++k) {
      const std::string key = "s" + std::to_string(s) + "_" + std::to_string(k);
      m.push_back({key + ".jpg", "img:" + key + std::string(700, 'x')});
      m.push_back({key + ".txt", "caption " + key + "\n"});
      if (keys) keys->insert("shard" + std::to_string(s) + ".tar/" + key);
    }
    paths.push_back(dir / ("shard" + std::to_string(s) + ".tar"));
    write_tar(paths.back(), m);
  }
  return paths;
}

TarSourceOptions options(int64_t buffer) {
  TarSourceOptions o;
  o.shuffle_buffer = buffer;
  return o;
}

TEST(TarSource, GroupsMembersByKeyAndReadsCaptionsAndLabels) {
  TempDir dir;
  const std::string shard = dir / "a.tar";
  write_tar(shard, {{"k0.jpg", "J0"},
                    {"k0.txt", "shoe on sale\n"},
                    {"k0.json", R"({"caption_medium": "a red shoe", "label": 7, "url": "http://x"})"},
                    {"sub/k1.png", "P1"},
                    {"sub/k1.cls", "3\n"},
                    {"sub/k1.xyz", "ignored"},
                    {"k2.seg.png", "S2"},  // key ends at the first dot: "k2", extension "seg.png" (ignored)
                    {"k2.txt", "no image here"},
                    {"k3.webp", "W3"},
                    {"k3.json", R"({"label": "x"})"},
                    {"k4.JPEG", "J4"}});
  TarSource src({shard}, options(1), /*seed=*/1, /*rank=*/0, /*world_size=*/1);
  std::vector<tips::data::SourceItem> items;
  for (int i = 0; i < 5; ++i) items.push_back(src.next());

  ASSERT_EQ(items[0].error, "");
  EXPECT_EQ(items[0].sample.key, "a.tar/k0");
  EXPECT_EQ(items[0].sample.image_bytes, "J0");
  EXPECT_EQ(items[0].sample.image_path, shard + ":k0.jpg");
  EXPECT_EQ(items[0].sample.label, 7);
  const std::map<std::string, std::string> want0{
      {"alt_text", "shoe on sale"}, {"caption_medium", "a red shoe"}, {"url", "http://x"}};
  EXPECT_EQ(items[0].sample.captions, want0);

  ASSERT_EQ(items[1].error, "");
  EXPECT_EQ(items[1].sample.key, "a.tar/sub/k1");
  EXPECT_EQ(items[1].sample.image_bytes, "P1");
  EXPECT_EQ(items[1].sample.label, 3);
  EXPECT_TRUE(items[1].sample.captions.empty());

  EXPECT_NE(items[2].error.find("no image member"), std::string::npos) << items[2].error;
  EXPECT_NE(items[3].error.find("'label' must be an integer"), std::string::npos) << items[3].error;
  ASSERT_EQ(items[4].error, "");
  EXPECT_EQ(items[4].sample.image_bytes, "J4");  // extensions compare case-insensitively
  EXPECT_EQ(src.state().position, 5);
}

TEST(TarSource, SameSeedSameOrderAndEpochsDiffer) {
  TempDir dir;
  std::set<std::string> all;
  const auto shards = write_shards(dir, 4, 6, &all);
  TarSource a(shards, options(8), 3, 0, 1), b(shards, options(8), 3, 0, 1), c(shards, options(8), 4, 0, 1);
  const auto ka = take_keys(a, 48), kb = take_keys(b, 48), kc = take_keys(c, 48);
  EXPECT_EQ(ka, kb);
  EXPECT_NE(ka, kc);
  const std::vector<std::string> e0(ka.begin(), ka.begin() + 24), e1(ka.begin() + 24, ka.end());
  EXPECT_NE(e0, e1);
  EXPECT_EQ(std::set<std::string>(e0.begin(), e0.end()), all);  // every sample once per epoch
  EXPECT_EQ(std::set<std::string>(e1.begin(), e1.end()), all);
  EXPECT_EQ(a.epoch_size(), 24);
}

TEST(TarSource, ShuffleBufferMixesWithinReach) {
  TempDir dir;
  const auto shards = write_shards(dir, 1, 40);
  TarSource plain(shards, options(1), 3, 0, 1), mixed(shards, options(10), 3, 0, 1);
  const auto in_order = take_keys(plain, 40), shuffled = take_keys(mixed, 40);
  for (int k = 0; k < 40; ++k) EXPECT_EQ(in_order[k], "shard0.tar/s0_" + std::to_string(k));
  EXPECT_NE(shuffled, in_order);
  // A buffer of 10 can emit sample k only after k - 9 others: position >= k - 9.
  for (int pos = 0; pos < 40; ++pos) {
    const int k = std::stoi(shuffled[pos].substr(shuffled[pos].find('_') + 1));
    EXPECT_GE(pos, k - 9) << shuffled[pos];
  }
}

TEST(TarSource, RanksPartitionEveryEpochIncludingSampleStriding) {
  TempDir dir;
  std::set<std::string> all;
  const auto shards = write_shards(dir, 5, 7, &all);
  for (int world : {1, 2, 3, 5, 7}) {  // 7 > 5 shards: sample-level striding
    for (int epoch : {0, 1}) {
      SCOPED_TRACE("world " + std::to_string(world) + " epoch " + std::to_string(epoch));
      std::multiset<std::string> seen;
      for (int rank = 0; rank < world; ++rank) {
        TarSource src(shards, options(4), 9, rank, world);
        EXPECT_EQ(src.strides_samples(), world > 5);
        src.restore({epoch, 0});
        const auto keys = rest_of_epoch(src);
        seen.insert(keys.begin(), keys.end());
      }
      EXPECT_EQ(seen, std::multiset<std::string>(all.begin(), all.end()));
    }
  }
}

TEST(TarSource, RestoreMidShardYieldsExactlyTheRemainingSamples) {
  TempDir dir;
  const auto shards = write_shards(dir, 3, 9);
  for (int world : {1, 2}) {
    for (int consumed : {0, 4, 11, 13}) {
      SCOPED_TRACE("world " + std::to_string(world) + " consumed " + std::to_string(consumed));
      TarSource a(shards, options(5), 21, world - 1, world);
      take_keys(a, consumed);
      const auto state = a.state();
      const auto expected = take_keys(a, 30);  // runs on into the next epochs
      TarSource b(shards, options(5), 21, world - 1, world);
      b.restore(state);
      EXPECT_EQ(b.state().epoch, state.epoch);
      EXPECT_EQ(b.state().position, state.position);
      EXPECT_EQ(take_keys(b, 30), expected);
    }
  }
}

TEST(TarSource, RestoreBeyondTheEpochThrows) {
  TempDir dir;
  const auto shards = write_shards(dir, 2, 3);
  TarSource src(shards, options(2), 1, 0, 1);
  EXPECT_THROW(src.restore({0, 7}), tips::DataError);  // the epoch has 6 samples
  EXPECT_NO_THROW(src.restore({0, 6}));
}

TEST(TarSource, TruncatedGarbageAndMissingShardsAreErrorItems) {
  TempDir dir;
  std::set<std::string> keys;
  auto shards = write_shards(dir, 2, 6, &keys);  // shard0, shard1 intact
  Members m;
  for (int k = 0; k < 6; ++k) {
    m.push_back({"t_" + std::to_string(k) + ".jpg", std::string(1500, 'j')});
    m.push_back({"t_" + std::to_string(k) + ".txt", "cap"});
  }
  const std::string truncated = dir / "trunc.tar";
  write_tar(truncated, m);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) * 6 / 10);
  const std::string garbage = dir.write("garbage.tar", std::string(3000, '\x5a'));
  shards.insert(shards.end(), {truncated, garbage, dir / "missing.tar"});

  TarSource src(shards, options(1), 2, 0, 1);
  for (int epoch = 0; epoch < 2; ++epoch) {
    SCOPED_TRACE(epoch);
    src.restore({epoch, 0});  // rest_of_epoch() consumed the first item of this epoch
    std::vector<std::string> errors;
    const auto got = rest_of_epoch(src, &errors);
    std::set<std::string> good, trunc_good;
    for (const auto& k : got) {
      if (keys.count(k)) good.insert(k);
      if (k.rfind("trunc.tar/t_", 0) == 0) trunc_good.insert(k);
    }
    EXPECT_EQ(good, keys);  // the intact shards are read in full
    // trunc.tar: the samples before the cut, then one error for the damaged member or header.
    EXPECT_GE(trunc_good.size(), 2u);
    EXPECT_LE(trunc_good.size(), 5u);
    ASSERT_EQ(errors.size(), 3u);  // truncated + garbage + missing: one each
    int trunc_errors = 0;
    for (const auto& e : errors) trunc_errors += e.rfind("trunc.tar", 0) == 0;
    EXPECT_EQ(trunc_errors, 1);
    EXPECT_EQ(got.size(), keys.size() + trunc_good.size() + errors.size());
  }
}

TEST(TarSource, NoShardAtAllThrows) {
  TempDir dir;
  EXPECT_THROW(TarSource({dir / "a.tar", dir / "b.tar"}, options(4), 1, 0, 1), tips::DataError);
  EXPECT_THROW(TarSource({}, options(4), 1, 0, 1), tips::DataError);
}

TEST(TarSource, OpenSourceExpandsTheShardPattern) {
  TempDir dir;
  std::set<std::string> keys;
  write_shards(dir, 3, 2, &keys);
  tips::data::DataConfig cfg;
  cfg.source = tips::data::SourceKind::kTar;
  cfg.path = dir / "shard{0..2}.tar";
  cfg.loader.shuffle_buffer = 3;
  auto src = tips::data::open_source(cfg, 5, 0, 1);
  const auto got = rest_of_epoch(*src);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), keys);
  EXPECT_EQ(got.size(), keys.size());
}

}  // namespace
