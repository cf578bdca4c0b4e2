// The KoLeo term (DINOv2's regulariser, not in TIPS): spreads the student's CLS1 embeddings of the global crops,
// each row against its nearest neighbour in the global batch (DINOv2 searches within each rank's batch).
#include "terms.h"
#include "tips/loss/koleo.h"
#include "tips/train/forwards.h"

namespace tips::train::terms {

class KoleoTerm final : public LossTerm {
 public:
  // on_masked: read the masked global crops (no contrastive term, or its image view is the masked one).
  KoleoTerm(double weight, bool on_masked) : weight_(weight), on_masked_(on_masked) {}
  std::string name() const override { return "koleo"; }
  double weight() const override { return weight_; }
  std::string describe() const override {
    return on_masked_ ? "CLS1 of the masked global crops" : "CLS1 of the unmasked global crops";
  }

  TermNeeds needs() const override {
    TermNeeds n;
    (on_masked_ ? n.masked_student : n.unmasked_student) = true;
    n.gathered = {on_masked_ ? Gathered::kMaskedCls1 : Gathered::kUnmaskedCls1};
    return n;
  }

  TermValue compute(TermContext& ctx) const override {
    const auto& view = on_masked_ ? ctx.forwards.masked : ctx.forwards.unmasked;
    // Nearest neighbours over every rank's rows: the term does not depend on the rank count.
    const auto rows = unit_rows_f32(view.cls1);                                                         // (G*B, D)
    const auto& all_rows = ctx.gathered(on_masked_ ? Gathered::kMaskedCls1 : Gathered::kUnmaskedCls1);  // (W*G*B, D)
    return {loss::koleo_loss(rows, all_rows, ctx.dist.rank * rows.size(0)), {}};
  }

 private:
  double weight_;
  bool on_masked_;
};

// The CLS1 of the contrastive term's view when that term runs (no extra forward), else of the masked crops.
std::shared_ptr<const LossTerm> make_koleo(const config::RunConfig& cfg) {
  const auto& c = cfg.loss.contrastive;
  const bool on_masked = c.weight <= 0 || c.image_view == loss::ImageView::kMasked;
  return std::make_shared<KoleoTerm>(cfg.loss.koleo.weight, on_masked);
}

}  // namespace tips::train::terms
