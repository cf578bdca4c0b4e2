// One optimizer step: per micro-batch the plan's forwards, the loss terms and backward; then the gradient
// all-reduce, one read of every logged value, clipping, the optimizer and the teacher's EMA and centres.
#include <cmath>

#include "tips/core/rng.h"
#include "tips/core/schedule.h"
#include "tips/kernels/sum_of_squares.h"
#include "trainer_impl.h"

namespace tips::train {

std::pair<torch::Tensor, DeviceMetrics> Trainer::Impl::compute_losses(TermContext& ctx) {
  DeviceMetrics values;
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().device(device));
  for (const auto& term : plan.terms) {
    TermValue v = term->compute(ctx);
    for (auto& part : v.parts) values.push_back(std::move(part));
    values.emplace_back("loss_" + term->name(), v.loss.detach());
    total = total + term->weight() * v.loss;
  }
  values.emplace_back("loss", total.detach());
  return {total, values};
}

torch::Tensor Trainer::Impl::sync_grads(torch::Tensor& values) {
  if (grad_sync) grad_sync->all_reduce_mean(values);
  // Prototype layers stay frozen for the first steps (DINO's trick against early collapse).
  if (step < cfg.optim.freeze_last_layer_steps)
    for (const auto& p : params)
      if (p.name.find("last_layer") != std::string::npos && p.param.grad().defined()) p.param.mutable_grad().zero_();
  std::vector<torch::Tensor> grads;
  for (const auto& p : trainable)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
  // One pass over every gradient on CPU (kernels/sum_of_squares.h); else a norm per tensor, on the device.
  if (kernels::fused_sum_of_squares_applies(grads))
    return torch::full({}, std::sqrt(kernels::sum_of_squares(grads)), torch::kDouble);
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.to(torch::kFloat).norm());
  return torch::stack(norms).norm();
}

void Trainer::Impl::apply_schedules(MetricRecord& rec) {
  const int64_t total = cfg.train.steps;
  const double lr = schedule_value(cfg.optim.lr, step, total);
  const double wd = schedule_value(cfg.optim.weight_decay, step, total);
  optimizer->set_lr_wd(lr, wd);
  rec.set("lr", lr);
  rec.set("wd", wd);
}

// Forward and backward of every micro-batch (gradients accumulate, scaled by 1 / accum); returns each logged
// value's mean over the micro-batches, on the device (no host read).
DeviceMetrics Trainer::Impl::forward_backward(const std::vector<data::Batch>& micro_batches) {
  const double accum = static_cast<double>(micro_batches.size());
  DeviceMetrics means;
  for (const auto& mb_in : micro_batches) {
    const data::Batch mb = data::to_device(mb_in, device);
    const StepForwards forwards = run_forwards(plan, model, *teacher, mb);
    TermContext ctx(mb, forwards, model, *teacher, dist, step, cfg.train.steps, plan.bf16, plan.gathered, plan.terms);
    ctx.diagnostics = logs_step(step + 1);
    auto [loss, values] = compute_losses(ctx);
    (loss / accum).backward();
    for (size_t i = 0; i < values.size(); ++i) {
      if (means.size() <= i) means.emplace_back(values[i].first, torch::zeros_like(values[i].second));
      means[i].second = means[i].second + values[i].second / accum;
    }
  }
  if (cfg.data.captions.missing == data::MissingCaption::kFallback) {
    // Captions that came from data.captions.fallback_field instead of the drawn field: a caption stream the data
    // lacks would otherwise turn multi-granularity captions silently into alt-text (train() warns once).
    double fallbacks = 0, samples = 0;
    for (const auto& mb : micro_batches) fallbacks += static_cast<double>(mb.caption_fallbacks), samples += mb.size();
    means.emplace_back("caption_fallback_frac",
                       torch::full({}, samples > 0 ? fallbacks / samples : 0.0, torch::TensorOptions().device(device)));
  }
  return means;
}

// The step's logged values averaged over ranks, the gradient norm and the contrastive temperature, in one
// device -> host read. The terms are per-rank means over per-rank samples: averaged over ranks they are those of
// the global batch, and a non-finite term on any rank is non-finite on every rank (so is the gradient norm, after
// the all-reduce), so all ranks take the same skip/stop branch.
StepResult Trainer::Impl::read_values(const DeviceMetrics& means, double& grad_norm, double& temperature) {
  std::vector<torch::Tensor> values;
  for (const auto& [name, t] : means) values.push_back(t);
  torch::Tensor packed = torch::stack(values);  // (T,), averaged over ranks with the gradients
  const torch::Tensor grad_norm_t = sync_grads(packed);
  const torch::Tensor host = torch::cat({packed.to(torch::kDouble), grad_norm_t.to(torch::kDouble).reshape({1}),
                                         model->temperature().detach().to(torch::kDouble).reshape({1})})
                                 .cpu();
  const double* v = host.data_ptr<double>();
  StepResult result;
  for (size_t i = 0; i < means.size(); ++i) result.terms.set(means[i].first, v[i]);
  grad_norm = v[means.size()];
  result.loss = result.terms.get("loss");
  for (const auto& [k, value] : result.terms.values)
    if (!std::isfinite(value)) result.nonfinite += (result.nonfinite.empty() ? "" : ", ") + k;
  if (!std::isfinite(grad_norm) && result.nonfinite.empty()) result.nonfinite = "gradients";
  result.terms.set("grad_norm", grad_norm);
  temperature = v[means.size() + 1];
  return result;
}

StepResult Trainer::step(const std::vector<data::Batch>& micro_batches) {
  Impl& s = *impl_;
  TORCH_CHECK(!micro_batches.empty(), "Trainer::step: no batches");
  s.optimizer->zero_grad();
  // Stochastic depth draws from a stream of (seed, rank, step): resuming at step N redraws the same masks.
  s.model->vision->set_drop_path_generator(rng::generator(rng::derive(s.cfg.train.seed, 0xD0, s.dist.rank, s.step)));
  double grad_norm = 0, temperature = 0;
  StepResult result = s.read_values(s.forward_backward(micro_batches), grad_norm, temperature);
  s.apply_schedules(result.terms);
  const double momentum = schedule_value(s.cfg.teacher.momentum, s.step, s.cfg.train.steps);
  result.terms.set("momentum", momentum);
  result.terms.set("temperature", temperature);
  if (!result.nonfinite.empty()) {
    result.skipped = true;
    s.optimizer->zero_grad();
    s.teacher->discard_centers();  // the skipped batch leaves no trace in the teacher
    return result;  // the step counter does not advance: the same step is retried with the next batch
  }
  s.optimizer->step_scaled(clip_factor(grad_norm, s.cfg.optim.clip_grad));  // the clip: gradients times its factor
  s.teacher->commit_centers();
  s.teacher->update(momentum);
  ++s.step;
  return result;
}

}  // namespace tips::train
