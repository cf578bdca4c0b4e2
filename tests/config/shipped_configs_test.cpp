// Every shipped config loads, and the ablation chain differs from its parent only in the documented keys.
#include <gtest/gtest.h>

#include <filesystem>

#include "tips/config/config.h"

namespace {

namespace fs = std::filesystem;
const fs::path kConfigs = fs::path(TIPS_SOURCE_DIR) / "configs";

TEST(ShippedConfigs, AllLoad) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(kConfigs)) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    EXPECT_NO_THROW(tips::config::load({e.path().string()}));
    ++n;
  }
  EXPECT_GE(n, 10);
}

TEST(ShippedConfigs, AblationChainTurnsTipsV1IntoTipsv2OneSwitchAtATime) {
  using tips::train::EmaScope;
  auto load = [](const std::string& f) { return tips::config::load({(kConfigs / "ablations" / f).string()}); };
  const auto v1 = load("tips_v1.yaml"), ibotpp = load("+ibotpp.yaml"), captions = load("+captions.yaml"),
             head = load("+head_ema.yaml"), patch_text = load("+patch_text.yaml");
  EXPECT_FALSE(v1.loss.ibot.all_patches);
  EXPECT_EQ(v1.teacher.ema, EmaScope::kFull);
  EXPECT_EQ(v1.data.captions.stream2.size(), 1u);
  EXPECT_TRUE(ibotpp.loss.ibot.all_patches);
  EXPECT_EQ(ibotpp.teacher.ema, EmaScope::kFull);
  EXPECT_EQ(captions.data.captions.stream2.size(), 2u);
  EXPECT_EQ(captions.teacher.ema, EmaScope::kFull);
  EXPECT_EQ(head.teacher.ema, EmaScope::kHeadOnly);
  // The recipe rows leave the extension off; the fifth row turns it on (with larger local crops) and nothing else.
  for (const auto* c : {&v1, &ibotpp, &captions, &head}) EXPECT_EQ(c->loss.patch_text.weight, 0.0);
  EXPECT_GT(patch_text.loss.patch_text.weight, 0.0);
  EXPECT_EQ(patch_text.loss.patch_text.patches, tips::loss::PatchSource::kLocal);
  auto head_plus = tips::config::load({(kConfigs / "ablations" / "+head_ema.yaml").string()},
                                      {"loss.patch_text.weight=" + std::to_string(patch_text.loss.patch_text.weight),
                                       "data.crops.local_size=" + std::to_string(patch_text.data.crops.local_size),
                                       "train.run_dir=" + patch_text.train.run_dir});
  EXPECT_EQ(tips::config::to_yaml(head_plus), tips::config::to_yaml(patch_text));
  // The last row is the demo config itself (up to its run folder).
  auto demo = tips::config::load({(kConfigs / "demo" / "fashion_tiny.yaml").string()},
                                 {"train.run_dir=" + head.train.run_dir});
  EXPECT_EQ(tips::config::to_yaml(demo), tips::config::to_yaml(head));
}

}  // namespace
