// The feature-distillation term (teacher.source=frozen, teacher.targets=features): the student's two CLS tokens and
// its patch tokens of the global crops, through the learned projection model->distill (student width -> teacher
// width), match the frozen teacher's tokens of the same crops. The patch weights are iBOT's (loss/ibot.h): with
// loss.distill.all_patches every patch counts, so at mask ratio 0 every token is supervised, as in the distillation
// TIPSv2 grew from; with a mask ratio the student sees mask tokens and still matches every patch.
#include "terms.h"
#include "tips/core/compat.h"
#include "tips/core/error.h"
#include "tips/loss/distill.h"
#include "tips/loss/ibot.h"
#include "tips/train/forwards.h"

namespace tips::train::terms {

class DistillTerm final : public LossTerm {
 public:
  DistillTerm(const loss::DistillConfig& c, loss::PatchWeighting weighting) : c_(c), weighting_(weighting) {}
  std::string name() const override { return "distill"; }
  double weight() const override { return c_.weight; }
  std::string describe() const override {
    return std::string(c_.kind == loss::DistillKind::kCosine ? "cosine" : "smooth-L1") + " to the frozen teacher's " +
           "tokens, CLS " + weight_text(c_.cls_weight) + ", patches " + weight_text(c_.patch_weight) +
           (weighting_ == loss::PatchWeighting::kMaskedOnly ? " (masked only)" : " (every patch)");
  }

  TermNeeds needs() const override {
    TermNeeds n;
    n.teacher = true;
    n.masked_student = true;  // the masked global crops (no patch masked at mask ratio 0)
    n.distill_projection = true;
    return n;
  }

  TermValue compute(TermContext& ctx) const override {
    TORCH_CHECK(ctx.model->distill, "the distill term needs the student's projection (model->distill)");
    const auto& teacher = ctx.forwards.teacher;
    const auto& student = ctx.forwards.masked;
    const auto project = [&](const torch::Tensor& x) {
      compat::AutocastGuard autocast(x.device().type(), ctx.bf16, torch::kBFloat16);
      return ctx.model->distill->forward(x);
    };
    const auto cls = 0.5 * (loss::token_distance(project(student.cls1), teacher.cls1, c_.kind).mean() +
                            loss::token_distance(project(student.cls2), teacher.cls2, c_.kind).mean());
    const auto weights = loss::ibot_patch_weights(ctx.batch.masks.flatten(0, 1), weighting_);  // (G*B, N)
    const auto patch = (loss::token_distance(project(student.patches), teacher.patches, c_.kind) * weights).sum();
    return {c_.cls_weight * cls + c_.patch_weight * patch,
            {{"distill_cls", cls.detach()}, {"distill_patch", patch.detach()}}};
  }

  double extra_flops_per_image(const config::RunConfig& cfg) const override {
    const int64_t side = cfg.data.crops.global_size / cfg.model.patch_size;
    const double tokens = static_cast<double>(cfg.data.crops.global_count * (side * side + 2));
    return 3.0 * 2.0 * static_cast<double>(cfg.model.dim * cfg.teacher.model.dim) * tokens;  // projection fwd + bwd
  }

 private:
  loss::DistillConfig c_;
  loss::PatchWeighting weighting_;
};

std::shared_ptr<const LossTerm> make_distill(const config::RunConfig& cfg) {
  const auto& d = cfg.loss.distill;
  if (d.cls_weight <= 0 && d.patch_weight <= 0)
    throw ConfigError("loss.distill.weight > 0 but cls_weight and patch_weight are both 0: the term would be 0",
                      "set loss.distill.cls_weight and/or loss.distill.patch_weight > 0");
  const auto weighting = d.all_patches ? loss::PatchWeighting::kAllPatches : loss::PatchWeighting::kMaskedOnly;
  const auto& m = cfg.data.masking;
  if (weighting == loss::PatchWeighting::kMaskedOnly && d.patch_weight > 0 && (m.probability <= 0 || m.ratio_max <= 0))
    throw ConfigError("loss.distill weights the masked patches only (loss.distill.all_patches=false) but "
                      "data.masking masks no patch: the patch term would always be 0",
                      "set loss.distill.all_patches=true (every patch), or mask some patches");
  return std::make_shared<DistillTerm>(d, weighting);
}

}  // namespace tips::train::terms
