// TermContext and the registration list of the loss terms.
#include "tips/train/loss_term.h"

#include "terms/terms.h"
#include "tips/dist/collectives.h"
#include "tips/train/forwards.h"

namespace tips::train {

TermContext::TermContext(const data::Batch& batch, const StepForwards& forwards, model::TipsModel& model,
                         Teacher& teacher, const dist::DistContext& dist, int64_t step, int64_t total_steps, bool bf16)
    : batch(batch), forwards(forwards), model(model), teacher(teacher), dist(dist), step(step),
      total_steps(total_steps), bf16(bf16) {}

int64_t TermContext::batch_size() const { return batch.global_crops.size(1); }

loss::SumReducer TermContext::reducer() const {
  if (!dist.distributed()) return {};
  const dist::DistContext d = dist;
  return [d](const torch::Tensor& t) {
    torch::Tensor c = t.clone();
    dist::all_reduce_sum(d, c);
    return c;
  };
}

const torch::Tensor& TermContext::text1_gathered() {
  if (!text1_all_.defined()) text1_all_ = dist::all_gather_with_grad(dist, forwards.text1);
  return text1_all_;
}

LossTerms make_loss_terms(const config::RunConfig& cfg) {
  // The order is the summation order of the weighted values (and the column order of the logs).
  LossTerms terms;
  const auto& l = cfg.loss;
  if (l.contrastive.weight > 0) terms.push_back(terms::make_contrastive(cfg));
  if (l.patch_text.weight > 0) terms.push_back(terms::make_patch_text(cfg));
  if (l.dino.weight > 0) terms.push_back(terms::make_dino(cfg));
  if (l.ibot.weight > 0) terms.push_back(terms::make_ibot(cfg));
  if (l.koleo.weight > 0) terms.push_back(terms::make_koleo(cfg));
  if (l.distill.weight > 0) terms.push_back(terms::make_distill(cfg));
  return terms;
}

}  // namespace tips::train
