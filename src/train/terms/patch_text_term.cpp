// The patch-text term (an extension, not in TIPSv2): multiple-instance InfoNCE between caption stream 1 and the
// best-matching patch of each image (loss/patch_text.h).
#include "terms.h"
#include "tips/core/error.h"
#include "tips/dist/collectives.h"
#include "tips/loss/patch_text.h"
#include "tips/train/forwards.h"

namespace tips::train::terms {

class PatchTextTerm final : public LossTerm {
 public:
  // global_view_masked: with patches=global, the contrastive term's image view is the masked one.
  PatchTextTerm(const loss::PatchTextConfig& c, bool global_view_masked, int64_t batch)
      : c_(c), global_view_masked_(global_view_masked), global_batch_(batch) {}
  std::string name() const override { return "patch_text"; }
  double weight() const override { return c_.weight; }
  std::string describe() const override {
    return c_.patches == loss::PatchSource::kLocal ? "caption vs the local crops' patches"
                                                   : "caption vs the global crop's patches";
  }

  TermNeeds needs() const override {
    TermNeeds n;
    n.text_streams = 1;
    n.gathered = {Gathered::kText1};
    if (c_.patches == loss::PatchSource::kLocal) n.local_student = true;
    else (global_view_masked_ ? n.masked_student : n.unmasked_student) = true;
    return n;
  }

  TermValue compute(TermContext& ctx) const override {
    const int64_t B = ctx.batch_size();
    // Candidates per image: the L local crops' n patches each (crop-major (L*B, n, D) -> (B, L*n, D)), or the
    // global crop's N patches.
    torch::Tensor patches;
    if (c_.patches == loss::PatchSource::kLocal) {
      const auto& lp = ctx.forwards.local.patches;
      patches = lp.view({-1, B, lp.size(1), lp.size(2)}).transpose(0, 1).flatten(1, 2);
    } else {
      patches = (global_view_masked_ ? ctx.forwards.masked : ctx.forwards.unmasked).patches.narrow(0, 0, B);
    }
    const auto sim = loss::patch_text_similarity(patches, ctx.gathered(Gathered::kText1));  // (B, W*B)
    const auto all = dist::all_gather_with_grad(ctx.dist, sim);
    return {loss::similarity_infonce(sim, all, ctx.dist.rank * B, ctx.model->temperature()).loss, {}};
  }

  double extra_flops_per_image(const config::RunConfig& cfg) const override {
    const auto& crops = cfg.data.crops;
    const int64_t p = cfg.model.patch_size;
    const double candidates = c_.patches == loss::PatchSource::kLocal
                                  ? static_cast<double>(crops.local_count * (crops.local_size / p) * (crops.local_size / p))
                                  : static_cast<double>((crops.global_size / p) * (crops.global_size / p));
    return 3 * 2.0 * candidates * static_cast<double>(global_batch_ * cfg.model.dim);  // (P, D) x (D, W*B)
  }

 private:
  loss::PatchTextConfig c_;
  bool global_view_masked_;
  int64_t global_batch_;
};

std::shared_ptr<const LossTerm> make_patch_text(const config::RunConfig& cfg) {
  const auto& p = cfg.loss.patch_text;
  if (cfg.loss.contrastive.weight <= 0)
    throw ConfigError("loss.patch_text.weight > 0 needs the caption embeddings of the contrastive loss, whose weight is 0",
                      "set loss.contrastive.weight > 0, or loss.patch_text.weight=0");
  if (p.patches == loss::PatchSource::kLocal && cfg.data.crops.local_count == 0)
    throw ConfigError("loss.patch_text.patches=local but data.crops.local_count=0: there are no local crops",
                      "set data.crops.local_count > 0, or loss.patch_text.patches=global");
  return std::make_shared<PatchTextTerm>(p, cfg.loss.contrastive.image_view == loss::ImageView::kMasked,
                                         cfg.train.batch_size);
}

}  // namespace tips::train::terms
