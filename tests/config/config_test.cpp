#include "tips/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tips/core/error.h"

namespace {

namespace fs = std::filesystem;
using tips::config::load;
using tips::config::RunConfig;

fs::path write_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("tips_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::vector<std::string>& files, const std::vector<std::string>& overrides = {}) {
  try {
    load(files, overrides);
  } catch (const tips::ConfigError& e) {
    return e.full_message();
  }
  return "";
}

TEST(Config, DefaultsAreTipsv2) {
  const RunConfig c = load({});
  EXPECT_EQ(c.teacher.ema, tips::train::EmaScope::kHeadOnly);
  EXPECT_TRUE(c.loss.ibot.all_patches);
  EXPECT_DOUBLE_EQ(c.loss.dino.weight, 1.0);
  EXPECT_DOUBLE_EQ(c.loss.ibot.weight, 2.0);
  EXPECT_DOUBLE_EQ(c.data.captions.stream2.at("caption_long"), 0.5);
}

TEST(Config, BaseInheritanceDeepMergesAndOverridesWin) {
  write_file("base.yaml", "model:\n  dim: 192\n  depth: 3\n  num_heads: 3\ntext:\n  dim: 192\n  num_heads: 3\n");
  const auto child = write_file("child.yaml", "base: base.yaml\nmodel:\n  depth: 5\n");
  const RunConfig c = load({child.string()}, {"model.depth=7", "loss.ibot.all_patches=false"});
  EXPECT_EQ(c.model.dim, 192);       // from base
  EXPECT_EQ(c.model.depth, 7);       // override beats child beats base
  EXPECT_FALSE(c.loss.ibot.all_patches);
}

TEST(Config, PresetFillsThenFieldsOverride) {
  const RunConfig c = load({}, {"model.preset=B", "model.depth=6"});
  EXPECT_EQ(c.model.dim, 768);
  EXPECT_EQ(c.model.depth, 6);
  EXPECT_EQ(c.text.dim, 768);        // text follows model.preset
  EXPECT_EQ(c.text.depth, 12);
}

TEST(Config, ErrorsNameFileLineKeyAndHint) {
  struct Case {
    std::string yaml, override_, expect1, expect2;
  };
  const Case cases[] = {
      {"optim:\n  lr:\n    strat: 1e-3\n", "", "bad1.yaml:3:5: optim.lr.strat: unknown key", "did you mean 'optim.lr.start'"},
      {"train:\n  steps: ten\n", "", "bad2.yaml:2:3", "expected an integer, got 'ten'"},
      {"train:\n  steps: 0\n", "", "train.steps: must be >= 1", "bad3.yaml:2:3"},
      {"teacher:\n  ema: heads\n", "", "expected one of head_only | full | none", "did you mean 'head_only'"},
      {"modle:\n  dim: 3\n", "", "modle: unknown key", "did you mean 'model'"},
      {"", "optim.lr.start=-1", "command line 'optim.lr.start=-1'", "must be > 0"},
      {"", "model.num_heads=5", "must divide dim=384", "model.num_heads"},
      {"data: 3\n", "", "expected a section", "bad8.yaml:1:1"},
      // A section check failing because of an override points at the override, not at the file's section.
      {"optim:\n  lr:\n    start: 1.0e-3\n", "optim.lr.start=-1", "command line 'optim.lr.start=-1'", "must be > 0"},
  };
  int i = 0;
  for (const auto& c : cases) {
    ++i;
    SCOPED_TRACE("case " + std::to_string(i));
    const auto f = write_file("bad" + std::to_string(i) + ".yaml", c.yaml);
    const std::string msg = error_of({f.string()}, c.override_.empty() ? std::vector<std::string>{}
                                                                        : std::vector<std::string>{c.override_});
    EXPECT_NE(msg.find(c.expect1), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect2), std::string::npos) << msg;
  }
}

TEST(Config, DiffNamesChangedKeysAndWhetherTheyChangeResults) {
  const RunConfig a = load({}, {});
  const RunConfig b = load({}, {"train.batch_size=32", "train.log_every=7", "data.captions.stream2={caption_long: 1.0}"});
  const auto changes = tips::config::diff(a, b);
  std::map<std::string, bool> seen;
  for (const auto& c : changes) seen[c.key] = c.changes_results;
  ASSERT_EQ(seen.count("train.batch_size"), 1u);
  EXPECT_TRUE(seen["train.batch_size"]);
  ASSERT_EQ(seen.count("train.log_every"), 1u);
  EXPECT_FALSE(seen["train.log_every"]);
  EXPECT_EQ(seen.count("data.captions.stream2"), 1u);
  EXPECT_EQ(changes.size(), 3u);
  EXPECT_TRUE(tips::config::diff(a, a).empty());
}

TEST(Config, MissingFileIsAConfigError) {
  const std::string msg = error_of({"/nonexistent/x.yaml"});
  EXPECT_NE(msg.find("config file not found"), std::string::npos) << msg;
}

TEST(Config, DumpReloadsToTheSameConfig) {
  const RunConfig a = load({}, {"model.preset=tiny", "optim.lr.start=0.00123", "data.captions.stream2={caption_long: 1}",
                                "eval.templates=[\"a {}\", \"b {}\"]"});
  const std::string text = tips::config::to_yaml(a);
  const RunConfig b = tips::config::load_from_string(text);
  EXPECT_EQ(tips::config::to_yaml(b), text);
  EXPECT_DOUBLE_EQ(b.optim.lr.start, 0.00123);
  EXPECT_EQ(b.eval.templates.size(), 2u);
  EXPECT_EQ(b.data.captions.stream2.size(), 1u);
}

TEST(Config, OverridesApplyOnTopOfYamlText) {
  const std::string text = tips::config::to_yaml(load({}, {"train.steps=300", "optim.lr.start=0.002"}));
  const RunConfig c = tips::config::load_from_string(text, {"train.steps=7"});
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_DOUBLE_EQ(c.optim.lr.start, 0.002);
  EXPECT_THROW(tips::config::load_from_string(text, {"train.no_such_key=1"}), tips::ConfigError);
}

TEST(Config, EmptyOverrideIsTheEmptyStringNotTheDefault) {
  const RunConfig d = load({}, {});
  ASSERT_FALSE(d.eval.knn_bank_manifest.empty());
  const RunConfig c = load({}, {"eval.knn_bank_manifest=", "eval.seg_manifest="});
  EXPECT_EQ(c.eval.knn_bank_manifest, "");
  EXPECT_EQ(c.eval.seg_manifest, "");
  EXPECT_THROW(load({}, {"train.steps="}), tips::ConfigError);  // not a number: an error, not the default
}

TEST(Config, AllKeysListsLeaves) {
  const auto keys = tips::config::all_keys();
  EXPECT_NE(std::find(keys.begin(), keys.end(), "optim.lr.start"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "teacher.ema"), keys.end());
  EXPECT_EQ(std::find(keys.begin(), keys.end(), "optim.lr"), keys.end());
}

}  // namespace
