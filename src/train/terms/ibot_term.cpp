// The iBOT term: the student's patch tokens of the masked global crops predict the teacher's prototype
// distribution of the same patches in the unmasked crops. TIPSv2's iBOT++ (loss.ibot.all_patches) weights every
// patch; TIPS v1's iBOT only the masked ones (loss/ibot.h holds the weights and the loss).
#include "terms.h"
#include "tips/core/compat.h"
#include "tips/core/error.h"
#include "tips/loss/dino.h"
#include "tips/loss/ibot.h"
#include "tips/model/heads.h"
#include "tips/train/forwards.h"
#include "tips/core/schedule.h"
#include "tips/train/teacher.h"

namespace tips::train::terms {

class IbotTerm final : public LossTerm {
 public:
  explicit IbotTerm(const loss::IbotConfig& c) : c_(c) {}
  std::string name() const override { return "ibot"; }
  double weight() const override { return c_.weight; }
  std::string describe() const override {
    if (!c_.all_patches) return "iBOT, masked patches only";
    return c_.separate_group_means ? "iBOT++, every patch (masked and visible means)" : "iBOT++, every patch";
  }

  TermNeeds needs() const override {
    TermNeeds n;
    n.teacher = true;
    n.heads = true;
    n.masked_student = true;
    return n;
  }

  // iBOT++ reads every patch. Masked-only iBOT reads the masked patches alone: the heads run on those rows only,
  // and the teacher's center and Sinkhorn marginals are statistics of them (the rows the loss uses).
  std::vector<TargetRequest> target_requests(TermContext& ctx) const override {
    torch::NoGradGuard no_grad;
    compat::AutocastGuard autocast(ctx.batch.global_crops.device().type(), ctx.bf16, torch::kBFloat16);
    torch::Tensor patches = ctx.forwards.teacher.patches;                                        // (G*B, N, D)
    if (!c_.all_patches) patches = patches.index({ctx.batch.masks.flatten(0, 1)}).unsqueeze(0);  // (1, R, D)
    const double temp = schedule_value(c_.teacher_temp, ctx.step, ctx.total_steps);
    // The scores stay in the heads' dtype: the targets come out float32 (loss/dino.h), in one pass from bf16.
    return {{TargetKind::kIbot, ctx.teacher.teacher_heads()->ibot()->forward(patches), temp}};
  }

  TermValue compute(TermContext& ctx) const override {
    const auto device = ctx.batch.global_crops.device().type();
    const auto masks = ctx.batch.masks.flatten(0, 1);  // (G*B, N)
    torch::Tensor student_patches = ctx.forwards.masked.patches;
    torch::Tensor weights = loss::ibot_patch_weights(masks, loss::patch_weighting(c_));  // (G*B, N)
    if (!c_.all_patches) {  // (G*B, N, D) -> (1, R, D) over the R masked patches
      student_patches = student_patches.index({masks}).unsqueeze(0);
      weights = weights.index({masks}).unsqueeze(0);
    }
    const torch::Tensor& targets = ctx.targets(*this)[0];
    const auto student = [&] {
      compat::AutocastGuard autocast(device, ctx.bf16, torch::kBFloat16);
      // (G*B, N, K) or (1, R, K), bf16 under autocast: the loss reads them in float32 without a cast pass.
      return ctx.model->heads->ibot()->forward(student_patches);
    }();
    TermValue value{loss::ibot_patch_loss(student, targets, weights, c_.student_temp), {}};
    if (ctx.diagnostics) value.parts.emplace_back("ibot_target_entropy", loss::mean_entropy(targets));
    return value;
  }

  double extra_flops_per_image(const config::RunConfig& cfg) const override {
    const double head = 2.0 * static_cast<double>(model::dino_head_param_count(cfg.heads, cfg.model.dim));
    const int64_t side = cfg.data.crops.global_size / cfg.model.patch_size;
    double rows = static_cast<double>(cfg.data.crops.global_count * side * side);
    if (!c_.all_patches) rows *= cfg.data.masking.probability * 0.5 * (cfg.data.masking.ratio_min + cfg.data.masking.ratio_max);
    return 4 * head * rows;  // the teacher head (forward) and the student head (forward + backward)
  }

 private:
  loss::IbotConfig c_;
};

std::shared_ptr<const LossTerm> make_ibot(const config::RunConfig& cfg) {
  const auto& m = cfg.data.masking;
  if (!cfg.loss.ibot.all_patches && (m.probability <= 0 || m.ratio_max <= 0))
    throw ConfigError("loss.ibot.all_patches=false (iBOT: masked patches only) but data.masking masks no patch "
                      "(probability " + std::to_string(m.probability) + ", ratio_max " + std::to_string(m.ratio_max) +
                          "): the term would always be 0",
                      "mask some patches (data.masking.ratio_min/ratio_max > 0, probability > 0), use iBOT++ "
                      "(loss.ibot.all_patches=true), or set loss.ibot.weight=0");
  return std::make_shared<IbotTerm>(cfg.loss.ibot);
}

}  // namespace tips::train::terms
