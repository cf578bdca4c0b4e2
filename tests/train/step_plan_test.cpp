// The step plan (which forwards and terms a config runs), the forwards themselves and the teacher-side
// behaviour of the self-distillation terms, on a tiny model without data.
#include "tips/train/step_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/core/system.h"
#include "tips/model/tips_model.h"
#include "tips/train/forwards.h"
#include "tips/train/teacher.h"

namespace {

using tips::train::StepPlan;
using tips::train::TeacherPass;

tips::config::RunConfig tiny_run_config(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o = {"model.patch_size=8", "model.dim=16", "model.depth=2", "model.num_heads=2",
                                "model.mlp_hidden=32", "model.pos_grid=2", "model.layerscale_init=0.1",
                                "text.dim=16", "text.depth=1", "text.num_heads=2", "text.mlp_hidden=32",
                                "text.vocab_size=20", "text.max_len=6", "heads.prototypes=12", "heads.hidden=16",
                                "heads.bottleneck=8", "data.crops.global_size=16", "data.crops.local_count=2",
                                "data.crops.local_size=8", "train.batch_size=4"};
  o.insert(o.end(), extra.begin(), extra.end());
  return tips::config::load({}, o);
}

std::vector<std::string> term_names(const StepPlan& p) {
  std::vector<std::string> out;
  for (const auto& t : p.terms) out.push_back(t->name());
  return out;
}

TEST(StepPlan, ForwardsAndTeacherPassFollowTheConfig) {
  struct Case {
    std::vector<std::string> set;
    TeacherPass teacher;
    bool unmasked, masked, local;
    int64_t streams;
    std::vector<std::string> terms;
  };
  const Case cases[] = {
      // TIPSv2: the teacher features are the detached unmasked student forward.
      {{}, TeacherPass::kSharedStudent, true, true, true, 2, {"contrastive", "dino", "ibot"}},
      // Stochastic depth makes that forward random: a separate deterministic pass instead.
      {{"model.drop_path=0.2"}, TeacherPass::kStudentNoGrad, true, true, true, 2, {"contrastive", "dino", "ibot"}},
      {{"teacher.ema=full"}, TeacherPass::kEmaBackbone, true, true, true, 2, {"contrastive", "dino", "ibot"}},
      {{"teacher.ema=none"}, TeacherPass::kSharedStudent, true, true, true, 2, {"contrastive", "dino", "ibot"}},
      {{"loss.contrastive.weight=0"}, TeacherPass::kStudentNoGrad, false, true, true, 0, {"dino", "ibot"}},
      {{"loss.dino.weight=0", "loss.ibot.weight=0", "loss.contrastive.two_streams=false"}, TeacherPass::kNone, true,
       false, false, 1, {"contrastive"}},
      {{"loss.contrastive.image_view=masked", "loss.koleo.weight=0.1"}, TeacherPass::kStudentNoGrad, false, true, true,
       2, {"contrastive", "dino", "ibot", "koleo"}},
      {{"loss.patch_text.weight=1", "loss.dino.weight=0"}, TeacherPass::kSharedStudent, true, true, true, 2,
       {"contrastive", "patch_text", "ibot"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.set.empty() ? "defaults" : c.set.front());
    const StepPlan p = tips::train::make_step_plan(tiny_run_config(c.set), torch::kCPU);
    EXPECT_EQ(p.teacher, c.teacher);
    EXPECT_EQ(p.unmasked_student, c.unmasked);
    EXPECT_EQ(p.masked_student, c.masked);
    EXPECT_EQ(p.local_student, c.local);
    EXPECT_EQ(p.text_streams, c.streams);
    EXPECT_EQ(term_names(p), c.terms);
  }
}

// Configs under which a term with a positive weight would compute nothing are errors, not silent no-ops.
TEST(StepPlan, NoOpTermsAreConfigErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"data.crops.local_count=0"},  // DINO with no student view
      {"loss.ibot.all_patches=false", "data.masking.probability=0"},  // masked-only iBOT without masks
      {"loss.ibot.all_patches=false", "data.masking.ratio_min=0", "data.masking.ratio_max=0"},
      {"loss.contrastive.weight=0", "loss.dino.weight=0", "loss.ibot.weight=0"},  // nothing to train
      {"loss.patch_text.weight=1", "loss.contrastive.weight=0"},
  };
  for (const auto& set : bad) {
    SCOPED_TRACE(set.front());
    EXPECT_THROW(tips::train::make_step_plan(tiny_run_config(set), torch::kCPU), tips::ConfigError);
  }
  // Fine again once the term has a view: DINO on the masked global crops.
  EXPECT_NO_THROW(
      tips::train::make_step_plan(tiny_run_config({"data.crops.local_count=0", "loss.dino.global_student=true"}), torch::kCPU));
}

TEST(StepPlan, PrecisionAutoFollowsTheMachine) {
  EXPECT_FALSE(tips::train::make_step_plan(tiny_run_config(), torch::kCPU).bf16);  // fp32 by default
  EXPECT_TRUE(tips::train::make_step_plan(tiny_run_config({"train.precision=bf16"}), torch::kCPU).bf16);
  const StepPlan autop = tips::train::make_step_plan(tiny_run_config({"train.precision=auto"}), torch::kCPU);
  EXPECT_EQ(autop.bf16, tips::sys::cpu_has_native_bf16());
  EXPECT_FALSE(autop.precision_note.empty());
}

// In bf16 on CPU the GEMMs run in oneDNN on LibTorch's threads: OpenBLAS's own pool gets one thread, so that it does
// not spin against them. In fp32 (OpenBLAS's GEMMs) the plan leaves it at LibTorch's count (0).
TEST(StepPlan, OpenBlasGetsOneThreadInBf16OnCpu) {
  EXPECT_EQ(tips::train::make_step_plan(tiny_run_config({"train.precision=bf16"}), torch::kCPU).blas_threads, 1);
  EXPECT_EQ(tips::train::make_step_plan(tiny_run_config({"train.precision=fp32"}), torch::kCPU).blas_threads, 0);
  const auto rows =
      tips::train::describe(tips::train::make_step_plan(tiny_run_config({"train.precision=bf16"}), torch::kCPU));
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.first == "OpenBLAS threads"; }));
}

struct StepRig {
  tips::config::RunConfig cfg;
  tips::model::TipsModel model{nullptr};
  std::unique_ptr<tips::train::Teacher> teacher;
  tips::data::Batch batch;

  explicit StepRig(const std::vector<std::string>& set) : cfg(tiny_run_config(set)) {
    tips::model::TipsModelConfig m;
    m.vision = cfg.model;
    m.text = cfg.text;
    m.heads = cfg.heads;
    model = tips::model::TipsModel(m);
    model->train();
    teacher = std::make_unique<tips::train::Teacher>(cfg.teacher, tips::train::target_norm(cfg.loss.dino),
                                                     tips::train::target_norm(cfg.loss.ibot), model->heads,
                                                     model->vision.ptr());
    torch::manual_seed(5);
    const int64_t B = cfg.train.batch_size;
    batch.global_crops = torch::rand({1, B, 3, 16, 16});
    batch.local_crops = torch::rand({2, B, 3, 8, 8});
    batch.masks = torch::rand({1, B, 4}) < 0.5;  // 4 patches per global crop
    batch.tokens1 = torch::randint(1, 20, {B, 6}, torch::kLong);
    batch.tokens2 = torch::randint(1, 20, {B, 6}, torch::kLong);
  }
};

// The teacher pass applies no stochastic depth and draws nothing from the student's generator: with
// drop_path > 0 the teacher features are the eval-mode forward, and the masked student forward that follows sees
// the very draws it would see without a teacher pass.
TEST(Forwards, TeacherPassIsDeterministicUnderStochasticDepth) {
  StepRig r({"model.drop_path=0.5"});
  const StepPlan plan = tips::train::make_step_plan(r.cfg, torch::kCPU);
  ASSERT_EQ(plan.teacher, TeacherPass::kStudentNoGrad);
  r.model->vision->set_drop_path_generator(tips::rng::generator(77));
  const auto out = tips::train::run_forwards(plan, r.model, *r.teacher, r.batch);
  EXPECT_TRUE(r.model->vision->is_training());  // the flag is restored

  const auto globals = r.batch.global_crops.flatten(0, 1);
  torch::Tensor eval_patches;
  {
    torch::NoGradGuard ng;
    r.model->vision->eval();
    eval_patches = r.model->vision->forward(globals).patches;
    r.model->vision->train();
  }
  EXPECT_TRUE(torch::equal(out.teacher.patches, eval_patches));
  // The student's masked + local forward, replayed from the same generator state with no teacher pass before it.
  r.model->vision->set_drop_path_generator(tips::rng::generator(77));
  const auto replay = r.model->vision->forward_multi({globals, r.batch.local_crops.flatten(0, 1)},
                                                     {r.batch.masks.flatten(0, 1), torch::Tensor()});
  EXPECT_TRUE(torch::equal(out.masked.patches, replay[0].patches));
  EXPECT_FALSE(torch::equal(out.masked.cls1, out.teacher.cls1));  // sanity: the student differs (masks, drop path)
}

// Masked-only iBOT (TIPS v1): the center is a statistic of the masked patches, the rows its loss uses.
TEST(Forwards, MaskedOnlyIbotCentersOnTheMaskedPatches) {
  StepRig r({"loss.ibot.all_patches=false", "loss.ibot.center_momentum=0.5", "loss.dino.weight=0",
         "loss.contrastive.weight=0"});
  const StepPlan plan = tips::train::make_step_plan(r.cfg, torch::kCPU);
  const auto out = tips::train::run_forwards(plan, r.model, *r.teacher, r.batch);
  const tips::dist::DistContext single;
  tips::train::TermContext ctx(r.batch, out, r.model, *r.teacher, single, /*step=*/0, /*total_steps=*/10, false);
  ASSERT_EQ(plan.terms.size(), 1u);
  const auto value = plan.terms[0]->compute(ctx);
  EXPECT_TRUE(std::isfinite(value.loss.item<double>()));
  EXPECT_EQ(r.teacher->center(tips::train::TargetKind::kIbot).abs().sum().item<float>(), 0.0f);  // staged only
  r.teacher->commit_centers();
  torch::Tensor expected;
  {
    torch::NoGradGuard ng;
    const auto masked_rows = out.teacher.patches.index({r.batch.masks.flatten(0, 1)});  // (R, D)
    expected = 0.5 * r.teacher->teacher_heads()->ibot()->forward(masked_rows).mean(0);
  }
  EXPECT_TRUE(torch::allclose(r.teacher->center(tips::train::TargetKind::kIbot), expected, 1e-5, 1e-6));
}

// The targets' entropy is a logged diagnostic: off the logged steps (ctx.diagnostics = false) the DINO and iBOT
// terms skip it, and their losses are the same either way.
TEST(Terms, TargetEntropyOnlyOnLoggedSteps) {
  StepRig r({"loss.contrastive.weight=0"});
  const StepPlan plan = tips::train::make_step_plan(r.cfg, torch::kCPU);
  const auto out = tips::train::run_forwards(plan, r.model, *r.teacher, r.batch);
  const tips::dist::DistContext single;
  ASSERT_EQ(plan.terms.size(), 2u);  // dino, ibot
  for (const auto& term : plan.terms) {
    SCOPED_TRACE(term->name());
    tips::train::TermContext logged(r.batch, out, r.model, *r.teacher, single, /*step=*/0, /*total_steps=*/10, false);
    tips::train::TermContext quiet(r.batch, out, r.model, *r.teacher, single, /*step=*/0, /*total_steps=*/10, false);
    quiet.diagnostics = false;
    const auto with = term->compute(logged), without = term->compute(quiet);
    ASSERT_EQ(with.parts.size(), 1u);
    EXPECT_EQ(with.parts[0].first, term->name() + "_target_entropy");
    const double entropy = with.parts[0].second.item<double>();
    EXPECT_GT(entropy, 0.0);
    EXPECT_LE(entropy, std::log(static_cast<double>(r.cfg.heads.prototypes)) + 1e-5);
    EXPECT_TRUE(without.parts.empty());
    EXPECT_TRUE(torch::equal(with.loss, without.loss));
  }
}

// TermContext::targets resolves the DINO and iBOT requests of the plan together (one joint Sinkhorn-Knopp); each
// term's targets are those it gets resolved alone, to the bit, and rows of probabilities.
TEST(Terms, TargetsOfThePlanResolvedTogetherEqualEachTermsOwn) {
  StepRig r({"loss.contrastive.weight=0", "loss.dino.centering=sinkhorn", "loss.ibot.centering=sinkhorn"});
  const StepPlan plan = tips::train::make_step_plan(r.cfg, torch::kCPU);
  const auto out = tips::train::run_forwards(plan, r.model, *r.teacher, r.batch);
  const tips::dist::DistContext single;
  tips::train::TermContext together(r.batch, out, r.model, *r.teacher, single, 0, 10, false, plan.gathered, plan.terms);
  ASSERT_EQ(plan.terms.size(), 2u);  // dino, ibot
  for (const auto& term : plan.terms) {
    SCOPED_TRACE(term->name());
    tips::train::TermContext alone(r.batch, out, r.model, *r.teacher, single, 0, 10, false);
    const auto& joint = together.targets(*term);
    const auto& own = alone.targets(*term);
    ASSERT_EQ(joint.size(), 1u);
    ASSERT_EQ(own.size(), 1u);
    EXPECT_TRUE(torch::equal(joint[0], own[0]));
    const auto row_sums = joint[0].sum(-1);
    EXPECT_TRUE(torch::allclose(row_sums, torch::ones_like(row_sums), 1e-5, 1e-5));
  }
}

}  // namespace
