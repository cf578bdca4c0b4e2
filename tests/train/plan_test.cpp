#include "tips/train/plan.h"

#include <gtest/gtest.h>

#include "tips/model/heads.h"
#include "tips/model/param_count.h"
#include "tips/model/presets.h"

namespace {

using tips::config::RunConfig;
using tips::train::EmaScope;
using tips::train::make_plan;

RunConfig preset(const std::string& name, int64_t pos_grid) {
  RunConfig cfg;
  cfg.model = tips::model::vision_preset(name);
  cfg.model.pos_grid = pos_grid;
  cfg.text = tips::model::text_preset(name);
  return cfg;
}

// A 1-block ViT: D=4, H=8, patch 2, 4x4 global crops, batch 3 (the FLOP counts below are by hand).
RunConfig one_block_config() {
  RunConfig cfg;
  cfg.model.dim = 4;
  cfg.model.depth = 1;
  cfg.model.num_heads = 1;
  cfg.model.mlp_hidden = 8;
  cfg.model.patch_size = 2;
  cfg.data.crops.global_size = 4;
  cfg.data.crops.local_size = 2;
  cfg.train.batch_size = 3;
  return cfg;
}

// Second source of truth: the official README's parameter counts (16x16 position table), in millions.
TEST(Plan, TowerCountsMatchTheOfficialReadme) {
  struct Case {
    const char* name;
    double vision_m, text_m, tol_m;
  };
  const Case cases[] = {{"B", 85.7, 109.6, 0.05}, {"L", 303.2, 183.9, 0.05},
                       {"So400m", 412.4, 448.3, 0.15}};  // So400m vision: 412.51M from the shapes (recipe 1.1)
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto plan = make_plan(preset(c.name, 16));
    EXPECT_NEAR(plan.student_vision / 1e6, c.vision_m, c.tol_m);
    EXPECT_NEAR(plan.student_text / 1e6, c.text_m, 0.05);
  }
  const auto g = make_plan(preset("g", 16));
  EXPECT_NEAR(g.student_vision / 1e9, 1.1, 0.05);   // README: "1.1B"
  EXPECT_NEAR(g.student_text / 1e6, 389.1, 0.05);
  // TIPSv2's 32x32 table: B 86.3M (paper Table 16).
  EXPECT_NEAR(make_plan(preset("B", 32)).student_vision / 1e6, 86.3, 0.05);
}

// The paper's "42% fewer training parameters" for ViT-B with head-only EMA.
TEST(Plan, HeadOnlySavesAbout42PercentOnViTB) {
  RunConfig cfg = preset("B", 32);
  cfg.heads.prototypes = 8192;  // iBOT-sized heads; hidden 2048, bottleneck 256, 3 layers, separate iBOT head
  const auto plan = make_plan(cfg);
  // One head by hand: 768*2048+2048 + 2048*2048+2048 + 2048*256+256 + 8192*256 = 8,392,960.
  EXPECT_EQ(plan.student_heads, 2 * 8392960);
  const int64_t v = plan.student_vision, h = plan.student_heads;
  EXPECT_EQ(plan.policy(EmaScope::kFull).training_params, 2 * v + 2 * h);
  EXPECT_EQ(plan.policy(EmaScope::kHeadOnly).training_params, v + 2 * h);
  EXPECT_EQ(plan.policy(EmaScope::kNone).training_params, v + h);
  EXPECT_NEAR(plan.head_only_saving(), 0.419, 0.005);
  EXPECT_EQ(plan.policy(EmaScope::kHeadOnly).ema_total, h);
  EXPECT_EQ(plan.policy(EmaScope::kFull).ema_total, v + h);
  const auto text = tips::train::format_plan(plan);
  EXPECT_NE(text.find("*head_only"), std::string::npos) << text;
  EXPECT_NE(text.find("41.9%"), std::string::npos) << text;
}

TEST(Plan, MemoryIsWeightsPlusGradsPlusAdamW) {
  const auto plan = make_plan(preset("S", 32));
  for (const auto& p : plan.policies) {
    SCOPED_TRACE(static_cast<int>(p.ema));
    EXPECT_DOUBLE_EQ(p.memory_bytes, 4.0 * p.total + 12.0 * p.trainable);
    EXPECT_EQ(p.trainable, plan.student_vision + plan.student_text + plan.student_heads + 1);  // + temperature
  }
}

// Full EMA costs exactly one extra teacher forward of the global crop per image (head_only reuses the
// student's unmasked forward); hand-computed for a 1-block ViT: D=4, H=8, patch 2, 4x4 crop -> 4 patches + 2 CLS:
//   block = 2*6*4*12 + 2*6*4*4 + 4*36*4 + 4*6*4*8 = 2112; patch embed = 2*4*(3*2*2)*4 = 384; sum 2496.
TEST(Plan, FullEmaAddsOneTeacherForwardPerImage) {
  RunConfig cfg = one_block_config();
  const auto plan = make_plan(cfg);
  EXPECT_DOUBLE_EQ(plan.policy(EmaScope::kFull).flops_per_step - plan.policy(EmaScope::kHeadOnly).flops_per_step,
                   3 * 2496.0);
  EXPECT_DOUBLE_EQ(plan.policy(EmaScope::kNone).flops_per_step, plan.policy(EmaScope::kHeadOnly).flops_per_step);
  cfg.loss.contrastive.weight = 0;  // no unmasked student forward to share: every policy runs the teacher
  const auto no_clip = make_plan(cfg);
  EXPECT_DOUBLE_EQ(no_clip.policy(EmaScope::kFull).flops_per_step, no_clip.policy(EmaScope::kHeadOnly).flops_per_step);
  EXPECT_EQ(no_clip.student_text, 0);
  EXPECT_EQ(no_clip.contrastive_scalars, 0);
  // Stochastic depth: the trainer runs a separate no-grad teacher forward for head_only too (a dropped-path student
  // forward is not the teacher's), so head_only costs what full does.
  cfg.loss.contrastive.weight = 1;
  cfg.model.drop_path = 0.1;
  const auto drop = make_plan(cfg);
  EXPECT_DOUBLE_EQ(drop.policy(EmaScope::kFull).flops_per_step, drop.policy(EmaScope::kHeadOnly).flops_per_step);
  EXPECT_DOUBLE_EQ(drop.policy(EmaScope::kHeadOnly).flops_per_step - plan.policy(EmaScope::kHeadOnly).flops_per_step,
                   3 * 2496.0);
}

// What is trained follows the terms the step runs: contrastive + KoLeo trains no heads, so no policy holds head
// copies, and the trainable count is the towers and the temperature.
TEST(Plan, ParametersFollowTheTermsThatRun) {
  RunConfig cfg = one_block_config();
  cfg.loss.dino.weight = 0;
  cfg.loss.ibot.weight = 0;
  cfg.loss.koleo.weight = 0.1;
  const auto plan = make_plan(cfg);
  EXPECT_EQ(plan.student_heads, 0);
  EXPECT_GT(plan.student_text, 0);
  EXPECT_EQ(plan.contrastive_scalars, 1);
  for (const auto& p : plan.policies) {
    SCOPED_TRACE(static_cast<int>(p.ema));
    EXPECT_EQ(p.teacher_heads, 0);
    EXPECT_EQ(p.trainable, plan.student_vision + plan.student_text + 1);
  }
}

// A frozen teacher: its weights are held (4 bytes each) but get no gradient and no AdamW state, it has no EMA copy
// under any policy, and it costs one forward (not three) of its own size per global crop. The 1-block model above
// as student and teacher, the teacher at 8 px (16 patches + 2 CLS: block 2*18*4*12 + 2*18*4*4 + 4*18*18*4 +
// 4*18*4*8 = 9792, patch embed 2*16*12*4 = 1536, sum 11328).
TEST(Plan, FrozenTeacherIsHeldButNotTrained) {
  RunConfig cfg = one_block_config();
  const auto ema = make_plan(cfg);
  cfg.teacher.source = tips::train::TeacherSource::kFrozen;
  cfg.teacher.weights = "teacher.ckpt";
  cfg.teacher.model = cfg.model;
  cfg.teacher.image_size = 8;
  const auto frozen = make_plan(cfg);
  const int64_t teacher = tips::model::vision_param_count(cfg.model) + tips::model::heads_param_count(cfg.heads, 4);
  EXPECT_EQ(frozen.frozen_teacher, teacher);
  for (const auto& p : frozen.policies) {
    SCOPED_TRACE(static_cast<int>(p.ema));
    EXPECT_EQ(p.ema_total, 0);
    EXPECT_EQ(p.trainable, ema.policy(EmaScope::kNone).trainable);
    EXPECT_DOUBLE_EQ(p.memory_bytes, ema.policy(EmaScope::kNone).memory_bytes + 4.0 * teacher);
    // head_only shared the unmasked student forward; the frozen teacher runs its own.
    EXPECT_DOUBLE_EQ(p.flops_per_step, ema.policy(EmaScope::kHeadOnly).flops_per_step + 3 * 11328.0);
  }
}

}  // namespace
