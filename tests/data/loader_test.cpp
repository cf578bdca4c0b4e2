#include "tips/data/loader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tips/core/error.h"
#include "tips/data/augment.h"
#include "tips/data/memory_source.h"
#include "tips/data/synthetic_batch.h"

namespace {

using tips::data::Batch;
using tips::data::Loader;
using tips::data::LoaderOptions;
using tips::data::LoaderState;
using tips::data::SourceItem;

enum class Bad { kNone, kTruncated, kZeroBytes, kGarbage, kSourceError, kNoCaption, kNonUtf8, kNonUtf8Error };

// A JPEG of h x w with per-sample content, and captions on every sample unless kNoCaption.
SourceItem make_item(int i, Bad bad = Bad::kNone) {
  tips::data::Image img{36 + i % 5, 44 + i % 7, {}};
  img.rgb.resize(static_cast<size_t>(img.height * img.width * 3));
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c)
        img.rgb[(y * img.width + x) * 3 + c] = static_cast<uint8_t>((x * (c + 1) * 5 + y * 3 + i * 17) % 256);
  SourceItem item;
  auto& s = item.sample;
  s.key = "s" + std::to_string(i);
  s.image_path = "mem/" + s.key + ".jpg";
  s.image_bytes = tips::data::encode_image(img, ".jpg");
  s.label = i;
  s.captions = {{"alt_text", "alt " + std::to_string(i)},
                {"caption_medium", "medium caption " + std::to_string(i)},
                {"caption_long", "a long caption for sample " + std::to_string(i)}};
  switch (bad) {
    case Bad::kTruncated: s.image_bytes.resize(s.image_bytes.size() / 2); break;
    case Bad::kZeroBytes: s.image_bytes.clear(); break;
    case Bad::kGarbage: s.image_bytes = std::string(300, '\x5a'); break;
    case Bad::kSourceError: item.error = "unreadable record"; break;
    case Bad::kNoCaption: s.captions.erase("caption_medium"), s.captions.erase("caption_long"); break;
    // A caption with the bytes FF FE (a tab-separated manifest or a tar .txt member passes them through).
    case Bad::kNonUtf8: s.captions["alt_text"] = "bag \xff\xfe"; s.captions["caption_medium"] = "a bag \xff\xfe"; break;
    // What a JSON manifest line with those bytes gives: a parse error whose message quotes them.
    case Bad::kNonUtf8Error: item.error = "[json.exception.parse_error.101] last read: '\"bag \xff\xfe'"; break;
    case Bad::kNone: break;
  }
  return item;
}

std::vector<SourceItem> make_items(int n, const std::map<int, Bad>& bad = {}) {
  std::vector<SourceItem> items;
  for (int i = 0; i < n; ++i) items.push_back(make_item(i, bad.count(i) ? bad.at(i) : Bad::kNone));
  return items;
}

// Fake tokenizer: char codes folded into [1, 50], length 8, 0-padded.
torch::Tensor fake_encode(const std::vector<std::string>& texts) {
  auto t = torch::zeros({static_cast<int64_t>(texts.size()), 8}, torch::kLong);
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t j = 0; j < std::min<size_t>(8, texts[i].size()); ++j)
      t[i][j] = static_cast<int64_t>(static_cast<unsigned char>(texts[i][j]) % 50 + 1);
  return t;
}

tips::data::DataConfig small_config(int64_t threads) {
  tips::data::DataConfig cfg;
  cfg.crops.global_size = 32;
  cfg.crops.local_count = 2;
  cfg.crops.local_size = 16;
  cfg.loader.threads = threads;
  cfg.loader.prefetch_batches = 2;
  cfg.captions.missing = tips::data::MissingCaption::kSkip;
  return cfg;
}

LoaderOptions small_options(int64_t batch_size = 4) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.patch_size = 8;  // 32 / 8 = 4x4 = 16 patches
  o.seed = 1234;
  o.rank = 0;
  o.pin_memory = false;
  return o;
}

std::unique_ptr<Loader> make_loader(const tips::data::DataConfig& cfg, std::vector<SourceItem> items,
                                    const LoaderOptions& o) {
  return std::make_unique<Loader>(cfg, std::make_unique<tips::data::MemorySource>(std::move(items)), fake_encode, o);
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_TRUE(torch::equal(a.global_crops, b.global_crops));
  EXPECT_TRUE(torch::equal(a.local_crops, b.local_crops));
  EXPECT_TRUE(torch::equal(a.masks, b.masks));
  EXPECT_TRUE(torch::equal(a.tokens1, b.tokens1));
  EXPECT_TRUE(torch::equal(a.tokens2, b.tokens2));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_EQ(a.caption2_fields, b.caption2_fields);
}

std::string temp_path(const std::string& name) {
  const std::string p = std::string(TIPS_BINARY_DIR) + "/loader_test_" + name;
  std::remove(p.c_str());
  return p;
}

TEST(Loader, BatchShapesAndContentsFollowTheSeedContract) {
  const auto cfg = small_config(2);
  const auto o = small_options();
  auto items = make_items(6);
  auto loader = make_loader(cfg, items, o);
  const Batch b = loader->next();
  EXPECT_EQ(b.global_crops.sizes(), torch::IntArrayRef({1, 4, 3, 32, 32}));
  EXPECT_EQ(b.local_crops.sizes(), torch::IntArrayRef({2, 4, 3, 16, 16}));
  EXPECT_EQ(b.masks.sizes(), torch::IntArrayRef({1, 4, 16}));
  EXPECT_EQ(b.masks.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(b.masks.sum(-1), torch::full({1, 4}, 12, torch::kLong)));  // round(0.75 * 16)
  EXPECT_EQ(b.tokens1.sizes(), torch::IntArrayRef({4, 8}));
  EXPECT_EQ(b.keys, (std::vector<std::string>{"s0", "s1", "s2", "s3"}));
  EXPECT_TRUE(torch::equal(b.labels, torch::arange(4, torch::kLong)));
  EXPECT_EQ(b.captions1[2], "alt 2");
  EXPECT_TRUE(torch::equal(b.tokens1, fake_encode(b.captions1)));
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(b.captions2[i], items[i].sample.captions.at(b.caption2_fields[i]));
    // Second path to the same pixels: the documented per-sample seed (epoch, global index = position * world + rank)
    // and sub-stream 1 for crops.
    const uint64_t seed = tips::rng::derive(o.seed, {0, static_cast<uint64_t>(i)});
    tips::rng::SplitMix r(tips::rng::derive(seed, 1));
    const auto crops = tips::data::MultiCropAugment(cfg.crops)(
        tips::data::decode_image(items[i].sample.image_bytes), r);
    EXPECT_TRUE(torch::equal(b.global_crops.select(1, i), crops.global));
    EXPECT_TRUE(torch::equal(b.local_crops.select(1, i), crops.local));
  }
  const auto st = loader->state();
  EXPECT_EQ(st.batches, 1);
  EXPECT_EQ(st.source.position, 4);
  EXPECT_EQ(st.seen, 4);
}

// `tips bench train` times the step on synthetic batches: they must have the Loader's shapes, dtypes and ranges
// for the same config, or the bench times a different step.
TEST(SyntheticBatch, MatchesALoaderBatchOfTheSameConfig) {
  const auto cfg = small_config(1);
  const auto o = small_options();
  auto loader = make_loader(cfg, make_items(6), o);
  const Batch real = loader->next();
  tips::data::SyntheticBatchSpec spec;
  spec.crops = cfg.crops;
  spec.masking = cfg.masking;
  spec.patch_size = o.patch_size;
  spec.max_len = 8;     // fake_encode's length
  spec.vocab_size = 51;  // fake_encode's ids are in [1, 50]
  const Batch syn = tips::data::synthetic_batch(spec, o.batch_size, 7);
  for (const auto& [a, b] : {std::pair{real.global_crops, syn.global_crops}, {real.local_crops, syn.local_crops},
                             {real.masks, syn.masks}, {real.tokens1, syn.tokens1}, {real.tokens2, syn.tokens2},
                             {real.labels, syn.labels}}) {
    EXPECT_EQ(a.sizes(), b.sizes());
    EXPECT_EQ(a.scalar_type(), b.scalar_type());
  }
  EXPECT_EQ(syn.size(), real.size());
  EXPECT_EQ(syn.captions2.size(), real.captions2.size());
  EXPECT_GE(syn.global_crops.min().item<float>(), 0.0f);
  EXPECT_LE(syn.global_crops.max().item<float>(), 1.0f);
  // The masks follow data.masking as the Loader's do: round(0.75 * 16) = 12 patches per crop.
  EXPECT_TRUE(torch::equal(syn.masks.sum(-1), real.masks.sum(-1)));
  for (const auto& t : {syn.tokens1, syn.tokens2}) {
    EXPECT_GE(t.min().item<int64_t>(), 0);
    EXPECT_LT(t.max().item<int64_t>(), spec.vocab_size);
    EXPECT_TRUE(torch::all(t.select(1, 0) > 0).item<bool>());  // every caption has a first token
    // Padding only at the end: once a row has a 0, the rest of the row is 0.
    const auto pad = (t == 0).to(torch::kLong);
    EXPECT_TRUE(torch::equal(std::get<0>(pad.cummax(1)), pad));
  }
  EXPECT_TRUE(torch::equal(tips::data::synthetic_batch(spec, o.batch_size, 7).tokens2, syn.tokens2));  // seeded
}

TEST(Loader, OutputIndependentOfThreadCount) {
  const std::map<int, Bad> bad{{2, Bad::kGarbage}, {9, Bad::kNoCaption}};
  auto cfg = small_config(1);
  cfg.loader.max_bad_fraction = 0.5;
  auto one = make_loader(cfg, make_items(13, bad), small_options());
  cfg.loader.threads = 3;
  auto three = make_loader(cfg, make_items(13, bad), small_options());
  for (int k = 0; k < 6; ++k) {  // 6 batches of 4 over 11 good samples per epoch: crosses two epochs
    SCOPED_TRACE(k);
    expect_same(one->next(), three->next());
  }
  EXPECT_EQ(one->state().to_json(), three->state().to_json());
}

TEST(Loader, ResumeGivesTheUninterruptedNextBatch) {
  const std::map<int, Bad> bad{{5, Bad::kTruncated}};
  auto cfg = small_config(2);
  cfg.loader.max_bad_fraction = 0.5;
  const auto o = small_options(3);
  for (int k : {1, 3, 4}) {  // batch 4 starts mid-epoch 1 (9 good samples per epoch)
    SCOPED_TRACE(k);
    auto full = make_loader(cfg, make_items(10, bad), o);
    for (int i = 0; i < k; ++i) full->next();
    const std::string saved = full->state().to_json();
    const Batch expected = full->next();
    const Batch expected2 = full->next();
    auto resumed = make_loader(cfg, make_items(10, bad), o);
    resumed->next();  // run ahead first: restore must drop the prefetched work
    resumed->restore(LoaderState::from_json(saved));
    expect_same(resumed->next(), expected);
    expect_same(resumed->next(), expected2);
    EXPECT_EQ(resumed->state().batches, k + 2);
  }
}

TEST(Loader, CorruptSamplesAreSkippedCountedAndQuarantined) {
  const std::map<int, Bad> bad{{1, Bad::kTruncated}, {4, Bad::kZeroBytes}, {7, Bad::kGarbage},
                               {10, Bad::kSourceError}, {13, Bad::kNoCaption}};
  auto cfg = small_config(2);
  cfg.loader.max_bad_fraction = 0.5;
  auto o = small_options(5);
  o.quarantine_path = temp_path("quarantine.jsonl");
  auto loader = make_loader(cfg, make_items(20, bad), o);
  std::set<std::string> keys;
  for (int k = 0; k < 3; ++k)
    for (const auto& key : loader->next().keys) keys.insert(key);
  EXPECT_EQ(keys.size(), 15u);
  for (const auto& [i, kind] : bad) EXPECT_EQ(keys.count("s" + std::to_string(i)), 0u);
  const auto st = loader->state();
  EXPECT_EQ(st.seen, 20);
  EXPECT_EQ(st.bad, 5);
  EXPECT_EQ(st.source.epoch, 1);
  EXPECT_EQ(st.source.position, 0);
  loader.reset();  // joins the threads: the log is complete
  std::ifstream in(o.quarantine_path);
  std::map<std::string, std::string> logged;  // epoch-0 key -> reason
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("epoch").get<int64_t>() == 0) logged[j.at("key").get<std::string>()] = j.at("reason").get<std::string>();
  }
  const std::map<std::string, std::string> prefix{{"s1", "decode:"}, {"s4", "decode:"}, {"s7", "decode:"},
                                                  {"s10", "source: unreadable record"}, {"s13", "caption:"}};
  ASSERT_EQ(logged.size(), prefix.size());
  for (const auto& [key, p] : prefix) {
    SCOPED_TRACE(key);
    ASSERT_EQ(logged.count(key), 1u);
    EXPECT_EQ(logged[key].rfind(p, 0), 0u) << logged[key];
  }
}

// Invalid UTF-8 in a caption, or in the error text about a sample, is one counted skip: the quarantine log stays
// valid JSON (the bytes are replaced) and names the sample. It used to end the run from the log writer.
TEST(Loader, NonUtf8CaptionsAreCountedSkips) {
  auto cfg = small_config(2);
  cfg.loader.max_bad_fraction = 0.5;
  auto o = small_options(4);
  o.quarantine_path = temp_path("utf8.jsonl");
  auto loader = make_loader(cfg, make_items(10, {{2, Bad::kNonUtf8}, {5, Bad::kNonUtf8Error}}), o);
  std::set<std::string> keys;
  for (int k = 0; k < 2; ++k)
    for (const auto& key : loader->next().keys) keys.insert(key);
  EXPECT_EQ(keys.count("s2") + keys.count("s5"), 0u);
  EXPECT_EQ(loader->state().bad, 2);
  loader.reset();
  std::ifstream in(o.quarantine_path);
  std::map<std::string, std::string> logged;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);  // valid UTF-8 JSON
    logged[j.at("key").get<std::string>()] = j.at("reason").get<std::string>();
  }
  ASSERT_EQ(logged.count("s2"), 1u);
  EXPECT_NE(logged["s2"].find("not valid UTF-8"), std::string::npos) << logged["s2"];
  ASSERT_EQ(logged.count("s5"), 1u);
  EXPECT_EQ(logged["s5"].rfind("source: ", 0), 0u);
}

TEST(Loader, TooManyBadSamplesThrowDataErrorWithCounts) {
  std::map<int, Bad> bad;
  for (int i = 0; i < 40; i += 2) bad[i] = Bad::kGarbage;  // half of all samples
  auto cfg = small_config(2);
  cfg.loader.max_bad_fraction = 0.1;
  auto o = small_options(4);
  o.min_seen = 10;
  o.quarantine_path = temp_path("too_many.jsonl");
  auto loader = make_loader(cfg, make_items(40, bad), o);
  try {
    for (int k = 0; k < 10; ++k) loader->next();
    FAIL() << "expected DataError";
  } catch (const tips::DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("5 of 10"), std::string::npos) << msg;  // first check at seen = 10, bad = 5
    EXPECT_NE(e.hint().find(o.quarantine_path), std::string::npos) << e.hint();
  }
  EXPECT_THROW(loader->next(), tips::DataError);  // stays failed
}

TEST(Loader, MissingCaptionUnderErrorPolicyIsFatal) {
  auto cfg = small_config(2);
  cfg.captions.missing = tips::data::MissingCaption::kError;
  auto loader = make_loader(cfg, make_items(8, {{2, Bad::kNoCaption}}), small_options());
  EXPECT_THROW(loader->next(), tips::DataError);
}

TEST(LoaderState, JsonRoundTripAndMalformedInput) {
  LoaderState s;
  s.source = {3, 17};
  s.batches = 42;
  s.seen = 700;
  s.bad = 2;
  const auto t = LoaderState::from_json(s.to_json());
  EXPECT_EQ(t.source.epoch, 3);
  EXPECT_EQ(t.source.position, 17);
  EXPECT_EQ(t.batches, 42);
  EXPECT_EQ(t.seen, 700);
  EXPECT_EQ(t.bad, 2);
  EXPECT_THROW(LoaderState::from_json("{\"epoch\": 1}"), tips::CheckpointError);
  EXPECT_THROW(LoaderState::from_json("not json"), tips::CheckpointError);
}

TEST(Loader, BadOptionsThrowConfigError) {
  auto o = small_options();
  o.patch_size = 7;  // 32 % 7 != 0
  EXPECT_THROW(make_loader(small_config(1), make_items(2), o), tips::ConfigError);
  o = small_options(0);
  EXPECT_THROW(make_loader(small_config(1), make_items(2), o), tips::ConfigError);
}

}  // namespace
