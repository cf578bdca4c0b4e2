// Field list of `loss`.
#include "fields.h"

namespace tips::config::detail {

namespace {
const NameTable<loss::ContrastiveKind> kKindNames{{"softmax", loss::ContrastiveKind::kSoftmax},
                                                  {"sigmoid", loss::ContrastiveKind::kSigmoid}};
const NameTable<loss::ImageView> kViewNames{{"unmasked", loss::ImageView::kUnmasked},
                                            {"masked", loss::ImageView::kMasked}};
const NameTable<loss::ClsChoice> kDinoClsNames{
    {"cls1", loss::ClsChoice::kCls1}, {"cls2", loss::ClsChoice::kCls2}, {"both", loss::ClsChoice::kBoth}};
const NameTable<loss::PatchSource> kPatchSourceNames{{"local", loss::PatchSource::kLocal},
                                                     {"global", loss::PatchSource::kGlobal}};
const NameTable<loss::DistillKind> kDistillKindNames{{"cosine", loss::DistillKind::kCosine},
                                                    {"smooth_l1", loss::DistillKind::kSmoothL1}};
const NameTable<loss::Centering> kCenteringNames{{"ema", loss::Centering::kEma},
                                                 {"sinkhorn", loss::Centering::kSinkhorn}};

template <class V, class C>
void visit_targets(V& v, C& c) {  // shared by dino and ibot: temperatures and centering
  v.field("student_temp", c.student_temp, "student softmax temperature");
  v.section("teacher_temp", [&] { visit_schedule(v, c.teacher_temp); });
  v.choice("centering", c.centering, kCenteringNames, "teacher target normalisation");
  v.field("center_momentum", c.center_momentum, "EMA momentum of the center");
  v.field("sinkhorn_iters", c.sinkhorn_iters, "Sinkhorn-Knopp iterations");
  v.check("student_temp", c.student_temp > 0, "must be > 0");
  v.check("teacher_temp", c.teacher_temp.start > 0 && c.teacher_temp.end > 0 &&
                              (c.teacher_temp.warmup_steps == 0 || c.teacher_temp.warmup_from > 0),
          "temperatures must be > 0");
  v.check("center_momentum", c.center_momentum >= 0 && c.center_momentum < 1, "must be in [0, 1)");
  v.check("sinkhorn_iters", c.sinkhorn_iters >= 1, "must be >= 1");
}
}  // namespace

template <class V, class C>
void visit_loss(V& v, C& c) {
  v.section("contrastive", [&] {
    auto& k = c.contrastive;
    v.field("weight", k.weight, "0 disables the term");
    v.choice("kind", k.kind, kKindNames, "softmax InfoNCE (CLIP/TIPS) or sigmoid (SigLIP)");
    v.field("temperature_init", k.temperature_init, "initial learnable temperature");
    v.field("learn_temperature", k.learn_temperature, "train the temperature (never clamped)");
    v.field("sigmoid_bias_init", k.sigmoid_bias_init, "SigLIP logit bias init");
    v.choice("image_view", k.image_view, kViewNames, "which global-crop forward feeds the loss");
    v.field("two_streams", k.two_streams, "(CLS1, stream1) + (CLS2, stream2); false: CLS1 + stream1 only");
    v.check("weight", k.weight >= 0, "must be >= 0");
    v.check("temperature_init", k.temperature_init > 0, "must be > 0");
  });
  v.section("dino", [&] {
    auto& d = c.dino;
    v.field("weight", d.weight, "alpha; 0 disables the term");
    v.choice("cls", d.cls, kDinoClsNames, "CLS token(s) fed to the DINO head");
    visit_targets(v, d);
    v.field("global_student", d.global_student, "also distil into the masked global crop");
    v.check("weight", d.weight >= 0, "must be >= 0");
  });
  v.section("ibot", [&] {
    auto& i = c.ibot;
    v.field("weight", i.weight, "beta; 0 disables the term");
    v.field("all_patches", i.all_patches, "true = iBOT++ (every patch); false = iBOT (masked only)");
    v.field("separate_group_means", i.separate_group_means, "mean(masked) + mean(visible) instead of Eq. 3");
    visit_targets(v, i);
    v.check("weight", i.weight >= 0, "must be >= 0");
  });
  v.section("koleo", [&] {
    v.field("weight", c.koleo.weight,
            "KoLeo regulariser on CLS1, neighbours searched over the global batch (DINOv2: per rank); 0 disables");
    v.check("weight", c.koleo.weight >= 0, "must be >= 0");
  });
  v.section("distill", [&] {
    auto& d = c.distill;
    v.field("weight", d.weight, "feature distillation from a frozen teacher (teacher.targets=features); 0 disables");
    v.field("cls_weight", d.cls_weight, "weight of the two CLS tokens' term");
    v.field("patch_weight", d.patch_weight, "weight of the patch tokens' term");
    v.field("all_patches", d.all_patches, "patch term on every patch (iBOT++ weighting); false: masked patches only");
    v.choice("kind", d.kind, kDistillKindNames, "token distance: cosine | smooth_l1");
    v.check("weight", d.weight >= 0, "must be >= 0");
    v.check("cls_weight", d.cls_weight >= 0, "must be >= 0");
    v.check("patch_weight", d.patch_weight >= 0, "must be >= 0");
  });
  v.section("patch_text", [&] {
    auto& p = c.patch_text;
    v.field("weight", p.weight, "multiple-instance patch-text loss (not in TIPSv2); 0 disables");
    v.choice("patches", p.patches, kPatchSourceNames, "patch tokens that compete: local crops' or global crop's");
    v.check("weight", p.weight >= 0, "must be >= 0");
  });
}
TIPS_INSTANTIATE_VISIT(visit_loss, loss::LossConfig)

}  // namespace tips::config::detail
