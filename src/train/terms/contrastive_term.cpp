// The image-text contrastive term: InfoNCE (or SigLIP) of CLS1 with caption stream 1 and, with two streams,
// of CLS2 with stream 2 (TIPS's dual embedding), averaged. Negatives are the whole global batch.
#include "terms.h"
#include "tips/loss/contrastive.h"
#include "tips/train/forwards.h"

namespace tips::train::terms {

class ContrastiveTerm final : public LossTerm {
 public:
  explicit ContrastiveTerm(const loss::ContrastiveConfig& c) : c_(c) {}
  std::string name() const override { return "contrastive"; }
  double weight() const override { return c_.weight; }
  std::string describe() const override {
    return std::string(c_.kind == loss::ContrastiveKind::kSoftmax ? "softmax" : "sigmoid") + ", " +
           (c_.two_streams ? "CLS1 + CLS2 streams" : "CLS1 only") + ", temperature " +
           weight_text(c_.temperature_init) + (c_.learn_temperature ? " learned" : " fixed");
  }

  TermNeeds needs() const override {
    TermNeeds n;
    const bool masked = c_.image_view == loss::ImageView::kMasked;
    (masked ? n.masked_student : n.unmasked_student) = true;
    n.text_streams = c_.two_streams ? 2 : 1;
    n.contrastive_scalars = true;
    n.gathered = {Gathered::kText1, masked ? Gathered::kMaskedCls1 : Gathered::kUnmaskedCls1};
    if (c_.two_streams) {
      n.gathered.push_back(Gathered::kText2);
      n.gathered.push_back(masked ? Gathered::kMaskedCls2 : Gathered::kUnmaskedCls2);
    }
    return n;
  }

  TermValue compute(TermContext& ctx) const override {
    const bool masked = c_.image_view == loss::ImageView::kMasked;
    const auto& view = masked ? ctx.forwards.masked : ctx.forwards.unmasked;
    TermValue v;
    torch::Tensor l = stream(ctx, view.cls1, ctx.gathered(masked ? Gathered::kMaskedCls1 : Gathered::kUnmaskedCls1),
                             ctx.forwards.text1, ctx.gathered(Gathered::kText1));
    if (c_.two_streams) {
      const auto l2 = stream(ctx, view.cls2, ctx.gathered(masked ? Gathered::kMaskedCls2 : Gathered::kUnmaskedCls2),
                             ctx.forwards.text2, ctx.gathered(Gathered::kText2));
      v.parts = {{"loss_contrastive1", l.detach()}, {"loss_contrastive2", l2.detach()}};
      l = 0.5 * (l + l2);
    }
    v.loss = l;
    return v;
  }

 private:
  // One stream: the first global crop's CLS (B, D) against this rank's texts (B, D) and every rank's (W*B, D).
  // cls_all: every rank's unit CLS rows of all its G global crops, (W*G*B, D); the first B of each rank's block.
  torch::Tensor stream(TermContext& ctx, const torch::Tensor& cls, const torch::Tensor& cls_all,
                       const torch::Tensor& txt, const torch::Tensor& txt_all) const {
    const int64_t B = ctx.batch_size(), offset = ctx.dist.rank * B, W = ctx.dist.world_size;
    const auto img = unit_rows_f32(cls.narrow(0, 0, B));
    const auto img_all = cls_all.view({W, -1, cls_all.size(1)}).narrow(1, 0, B).reshape({W * B, cls_all.size(1)});
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
