// The image-text contrastive term: InfoNCE (or SigLIP) of CLS1 with caption stream 1 and, with two streams,
// of CLS2 with stream 2 (TIPS's dual embedding), averaged. Negatives are the whole global batch.
#include "terms.h"
#include "tips/dist/collectives.h"
#include "tips/loss/contrastive.h"
#include "tips/train/forwards.h"

namespace tips::train::terms {

class ContrastiveTerm final : public LossTerm {
 public:
  explicit ContrastiveTerm(const loss::ContrastiveConfig& c) : c_(c) {}
  std::string name() const override { return "contrastive"; }
  double weight() const override { return c_.weight; }

  TermNeeds needs() const override {
    TermNeeds n;
    (c_.image_view == loss::ImageView::kMasked ? n.masked_student : n.unmasked_student) = true;
    n.text_streams = c_.two_streams ? 2 : 1;
    return n;
  }

  TermValue compute(TermContext& ctx) const override {
    const auto& view = c_.image_view == loss::ImageView::kMasked ? ctx.forwards.masked : ctx.forwards.unmasked;
    const torch::Tensor& text1_all = ctx.text1_gathered();
    TermValue v;
    torch::Tensor l = stream(ctx, view.cls1, ctx.forwards.text1, text1_all);
    if (c_.two_streams) {
      const auto l2 = stream(ctx, view.cls2, ctx.forwards.text2, dist::all_gather_with_grad(ctx.dist, ctx.forwards.text2));
      v.parts = {{"loss_contrastive1", l.detach()}, {"loss_contrastive2", l2.detach()}};
      l = 0.5 * (l + l2);
    }
    v.loss = l;
    return v;
  }

 private:
  // One stream: the first global crop's CLS (B, D) against this rank's texts (B, D) and every rank's (W*B, D).
  torch::Tensor stream(TermContext& ctx, const torch::Tensor& cls, const torch::Tensor& txt,
                       const torch::Tensor& txt_all) const {
    const int64_t B = ctx.batch_size(), offset = ctx.dist.rank * B;
    const auto img = unit_rows_f32(cls.narrow(0, 0, B));
    const auto img_all = dist::all_gather_with_grad(ctx.dist, img);
    if (c_.kind == loss::ContrastiveKind::kSigmoid)
      return loss::sigmoid_loss(img, txt_all, offset, ctx.model->temperature(), ctx.model->logit_bias);
    return loss::softmax_infonce(img, txt, img_all, txt_all, offset, ctx.model->temperature()).loss;
  }

  loss::ContrastiveConfig c_;
};

std::shared_ptr<const LossTerm> make_contrastive(const config::RunConfig& cfg) {
  return std::make_shared<ContrastiveTerm>(cfg.loss.contrastive);
}

}  // namespace tips::train::terms
