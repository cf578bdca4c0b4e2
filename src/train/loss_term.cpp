// TermContext and the registration list of the loss terms.
#include "tips/train/loss_term.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "terms/terms.h"
#include "tips/dist/collectives.h"
#include "tips/train/forwards.h"

namespace tips::train {

TermContext::TermContext(const data::Batch& batch, const StepForwards& forwards, model::TipsModel& model,
                         Teacher& teacher, const dist::DistContext& dist, int64_t step, int64_t total_steps, bool bf16,
                         std::vector<Gathered> plan_gathered, LossTerms plan_terms)
    : batch(batch), forwards(forwards), model(model), teacher(teacher), dist(dist), step(step),
      total_steps(total_steps), bf16(bf16), plan_gathered_(std::move(plan_gathered)),
      plan_terms_(std::move(plan_terms)) {}

std::string weight_text(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", w);
  return buf;
}

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

namespace {

torch::Tensor gather_source(const StepForwards& f, Gathered which) {
  switch (which) {
    case Gathered::kText1:
      return f.text1;
    case Gathered::kText2:
      return f.text2;
    case Gathered::kUnmaskedCls1:
      return terms::unit_rows_f32(f.unmasked.cls1);
    case Gathered::kUnmaskedCls2:
      return terms::unit_rows_f32(f.unmasked.cls2);
    case Gathered::kMaskedCls1:
      return terms::unit_rows_f32(f.masked.cls1);
    case Gathered::kMaskedCls2:
      return terms::unit_rows_f32(f.masked.cls2);
  }
  return {};
}

}  // namespace

const torch::Tensor& TermContext::gathered(Gathered which) {
  const auto it = std::find(plan_gathered_.begin(), plan_gathered_.end(), which);
  TORCH_CHECK(it != plan_gathered_.end(), "TermContext::gathered: rows ", static_cast<int>(which),
              " were not declared in any term's needs().gathered");
  if (gathered_.empty()) {
    std::vector<torch::Tensor> sources;
    for (Gathered g : plan_gathered_) {
      sources.push_back(gather_source(forwards, g));
      TORCH_CHECK(sources.back().defined(), "TermContext::gathered: rows ", static_cast<int>(g),
                  " come from a forward the step did not run");
    }
    gathered_ = dist::all_gather_with_grad(dist, sources);
  }
  return gathered_[static_cast<size_t>(it - plan_gathered_.begin())];
}

const std::vector<torch::Tensor>& TermContext::targets(const LossTerm& term) {
  if (targets_.empty()) {
    std::vector<const LossTerm*> terms;
    for (const auto& t : plan_terms_) terms.push_back(t.get());
    if (std::find(terms.begin(), terms.end(), &term) == terms.end()) terms.push_back(&term);
    resolve_targets(terms);
  } else if (targets_.count(&term) == 0) {
    resolve_targets({&term});
  }
  return targets_.at(&term);
}

void TermContext::resolve_targets(const std::vector<const LossTerm*>& terms) {
  std::vector<TargetRequest> requests;
  std::vector<size_t> counts;
  for (const LossTerm* t : terms) {
    auto own = t->target_requests(*this);
    counts.push_back(own.size());
    for (auto& r : own) requests.push_back(std::move(r));
  }
  const auto resolved = teacher.targets(requests, reducer());
  size_t offset = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto first = resolved.begin() + static_cast<std::ptrdiff_t>(offset);
    targets_[terms[i]] = std::vector<torch::Tensor>(first, first + static_cast<std::ptrdiff_t>(counts[i]));
    offset += counts[i];
  }
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
