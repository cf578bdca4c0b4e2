// The phases of one TIPSv2 step: teacher_targets, student_forward, compute_losses, backward_and_update_grads.
#include <cmath>

#include "tips/core/compat.h"
#include "tips/core/rng.h"
#include "tips/loss/contrastive.h"
#include "tips/loss/dino.h"
#include "tips/loss/ibot.h"
#include "tips/loss/koleo.h"
#include "tips/loss/patch_text.h"
#include "tips/train/schedule.h"
#include "trainer_impl.h"

namespace tips::train {

namespace F = torch::nn::functional;

namespace {
torch::Tensor l2n(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(-1)); }

model::VisionOutput detach(const model::VisionOutput& o) {
  return {o.cls1.detach(), o.cls2.detach(), o.patches.detach(), {}};
}
}  // namespace

loss::SumReducer Trainer::Impl::sum_reducer() const {
  if (!dist.distributed()) return {};
  const dist::DistContext d = dist;
  return [d](const torch::Tensor& t) {
    torch::Tensor c = t.clone();
    dist::all_reduce_sum(d, c);
    return c;
  };
}

// Head-only (and none) teachers use the student backbone itself: when the contrastive loss also wants the
// unmasked view, one forward serves both (its output detached for the targets). Only valid when the forward is
// deterministic: stochastic depth would make the teacher features differ from a separate no-grad pass.
bool Trainer::Impl::teacher_shares_student_forward() const {
  return teacher->scope() != EmaScope::kFull && cfg.model.drop_path == 0.0 && cfg.loss.contrastive.weight > 0 &&
         cfg.loss.contrastive.image_view == loss::ImageView::kUnmasked;
}

TeacherTargets Trainer::Impl::teacher_targets(const data::Batch& b,
                                              std::optional<model::VisionOutput>& shared_unmasked) {
  TeacherTargets t;
  const bool dino_on = cfg.loss.dino.weight > 0 && b.local_crops.defined();
  const bool dino_on_global = cfg.loss.dino.weight > 0 && cfg.loss.dino.global_student;
  const bool ibot_on = cfg.loss.ibot.weight > 0;
  if (!dino_on && !dino_on_global && !ibot_on) return t;
  const auto globals = b.global_crops.flatten(0, 1);  // (G*B, 3, S, S)
  const int64_t G = b.global_crops.size(0), B = b.global_crops.size(1);

  model::VisionOutput feats;
  if (teacher_shares_student_forward()) {
    compat::AutocastGuard autocast(bf16, torch::kBFloat16);
    shared_unmasked = model->vision->forward(globals);  // with gradient: reused by the contrastive loss
    feats = detach(*shared_unmasked);
  } else {
    torch::NoGradGuard no_grad;
    compat::AutocastGuard autocast(bf16, torch::kBFloat16);
    feats = teacher->teacher_backbone(model->vision)->forward(globals);
  }
  torch::NoGradGuard no_grad;
  // The heads run under the same autocast as the backbone (bf16 on CUDA; their 65536-wide prototype matmuls would
  // otherwise run in fp32); the targets are formed from float32 logits.
  compat::AutocastGuard autocast(bf16, torch::kBFloat16);
  auto heads = teacher->teacher_heads();
  const int64_t total = cfg.train.steps;
  const double dino_temp = schedule_value(cfg.loss.dino.teacher_temp, step, total);
  const double ibot_temp = schedule_value(cfg.loss.ibot.teacher_temp, step, total);
  if (dino_on || dino_on_global) {
    const bool use_cls2 = cfg.loss.dino.cls == loss::ClsChoice::kCls2;
    const auto logits = heads->dino->forward(use_cls2 ? feats.cls2 : feats.cls1).to(torch::kFloat);
    t.dino = teacher->targets(TargetKind::kDino, logits, dino_temp, sum_reducer()).view({G, B, -1});
    if (cfg.loss.dino.cls == loss::ClsChoice::kBoth) {
      // The second CLS shares the DINO head and its center (targets() updated the center with CLS1 already).
      const auto logits2 = heads->dino->forward(feats.cls2).to(torch::kFloat);
      t.dino_cls2 = teacher->targets(TargetKind::kDino, logits2, dino_temp, sum_reducer()).view({G, B, -1});
    }
  }
  if (ibot_on) {
    const auto logits = heads->ibot()->forward(feats.patches).to(torch::kFloat);  // (G*B, N, K)
    t.ibot = teacher->targets(TargetKind::kIbot, logits, ibot_temp, sum_reducer());
  }
  return t;
}

StudentOutputs Trainer::Impl::student_forward(const data::Batch& b,
                                              std::optional<model::VisionOutput>& shared_unmasked) {
  StudentOutputs s;
  compat::AutocastGuard autocast(bf16, torch::kBFloat16);
  const auto globals = b.global_crops.flatten(0, 1);
  const auto masks = b.masks.flatten(0, 1);
  const bool need_masked = cfg.loss.ibot.weight > 0 || (cfg.loss.dino.weight > 0 && cfg.loss.dino.global_student) ||
                           (cfg.loss.contrastive.weight > 0 && cfg.loss.contrastive.image_view == loss::ImageView::kMasked);
  const bool need_local =
      (cfg.loss.dino.weight > 0 || loss::uses_local_patches(cfg.loss.patch_text)) && b.local_crops.defined();
  std::vector<torch::Tensor> crops, crop_masks;
  if (need_masked) crops.push_back(globals), crop_masks.push_back(masks);
  if (need_local) crops.push_back(b.local_crops.flatten(0, 1)), crop_masks.push_back(torch::Tensor());
  if (!crops.empty()) {
    auto outs = model->vision->forward_multi(crops, crop_masks);
    size_t i = 0;
    if (need_masked) s.masked = outs[i++];
    if (need_local) s.local = outs[i++];
  }
  if (cfg.loss.contrastive.weight > 0) {
    if (cfg.loss.contrastive.image_view == loss::ImageView::kMasked) {
      s.contrastive_view = s.masked;
    } else if (shared_unmasked) {
      s.contrastive_view = *shared_unmasked;
    } else {
      s.contrastive_view = model->vision->forward(globals);
    }
    const int64_t B = b.tokens1.size(0);
    if (cfg.loss.contrastive.two_streams) {
      const auto both = l2n(model->text->forward(torch::cat({b.tokens1, b.tokens2}, 0)).to(torch::kFloat));
      s.text1 = both.narrow(0, 0, B);
      s.text2 = both.narrow(0, B, B);
    } else {
      s.text1 = l2n(model->text->forward(b.tokens1).to(torch::kFloat));
    }
  }
  return s;
}

std::pair<torch::Tensor, MetricRecord> Trainer::Impl::compute_losses(const data::Batch& b, const StudentOutputs& s,
                                                                    const TeacherTargets& t) {
  MetricRecord rec;
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().device(device));
  const int64_t G = b.global_crops.size(0), B = b.global_crops.size(1);

  // Stream 1's captions over all ranks: gathered once for the contrastive and the patch-text losses.
  const torch::Tensor text1_all =
      cfg.loss.contrastive.weight > 0 ? dist::all_gather_with_grad(dist, s.text1) : torch::Tensor();
  if (cfg.loss.contrastive.weight > 0) {
    // Contrastive pairs use the first global crop of each image.
    auto stream = [&](const torch::Tensor& cls, const torch::Tensor& txt, const torch::Tensor& txt_all) {
      const auto img = l2n(cls.narrow(0, 0, B).to(torch::kFloat));
      const auto img_all = dist::all_gather_with_grad(dist, img);
      if (cfg.loss.contrastive.kind == loss::ContrastiveKind::kSigmoid)
        return loss::sigmoid_loss(img, txt_all, dist.rank * B, model->temperature(), model->logit_bias);
      return loss::softmax_infonce(img, txt, img_all, txt_all, dist.rank * B, model->temperature()).loss;
    };
    torch::Tensor l = stream(s.contrastive_view.cls1, s.text1, text1_all);
    rec.set("loss_contrastive1", l.item<double>());
    if (cfg.loss.contrastive.two_streams) {
      const auto l2 = stream(s.contrastive_view.cls2, s.text2, dist::all_gather_with_grad(dist, s.text2));
      rec.set("loss_contrastive2", l2.item<double>());
      l = 0.5 * (l + l2);
    }
    rec.set("loss_contrastive", l.item<double>());
    total = total + cfg.loss.contrastive.weight * l;
  }
  if (cfg.loss.patch_text.weight > 0) {
    // Candidates per image: the L local crops' n patches each (crop-major (L*B, n, D) -> (B, L*n, D)), or the
    // global crop's N patches.
    torch::Tensor patches;
    if (loss::uses_local_patches(cfg.loss.patch_text)) {
      const auto& lp = s.local.patches;
      patches = lp.view({-1, B, lp.size(1), lp.size(2)}).transpose(0, 1).flatten(1, 2);
    } else {
      patches = s.contrastive_view.patches.narrow(0, 0, B);
    }
    const auto sim = loss::patch_text_similarity(patches, text1_all);  // (B, G)
    const auto l = loss::similarity_infonce(sim, dist::all_gather_with_grad(dist, sim), dist.rank * B,
                                            model->temperature()).loss;
    rec.set("loss_patch_text", l.item<double>());
    total = total + cfg.loss.patch_text.weight * l;
  }
  if (t.dino.defined()) {
    auto dino_term = [&](const torch::Tensor& targets, bool cls2) {
      compat::AutocastGuard autocast(bf16, torch::kBFloat16);  // heads in bf16 on CUDA; the loss takes float32
      std::vector<torch::Tensor> students;  // each (V, B, K)
      if (s.local.cls1.defined()) {
        const auto& x = cls2 ? s.local.cls2 : s.local.cls1;
        students.push_back(model->heads->dino->forward(x).view({-1, B, targets.size(-1)}));
      }
      if (cfg.loss.dino.global_student) {
        const auto& x = cls2 ? s.masked.cls2 : s.masked.cls1;
        students.push_back(model->heads->dino->forward(x).view({G, B, targets.size(-1)}));
      }
      return loss::dino_loss(torch::cat(students, 0).to(torch::kFloat), targets, cfg.loss.dino.student_temp);
    };
    const bool cls2_only = cfg.loss.dino.cls == loss::ClsChoice::kCls2;
    torch::Tensor l = dino_term(t.dino, cls2_only);
    if (t.dino_cls2.defined()) l = 0.5 * (l + dino_term(t.dino_cls2, /*cls2=*/true));
    rec.set("loss_dino", l.item<double>());
    total = total + cfg.loss.dino.weight * l;
  }
  if (t.ibot.defined()) {
    const auto student = [&] {
      compat::AutocastGuard autocast(bf16, torch::kBFloat16);
      return model->heads->ibot()->forward(s.masked.patches).to(torch::kFloat);  // (G*B, N, K)
    }();
    const auto weights = loss::ibot_patch_weights(b.masks.flatten(0, 1), loss::patch_weighting(cfg.loss.ibot));
    const auto l = loss::ibot_patch_loss(student, t.ibot, weights, cfg.loss.ibot.student_temp);
    rec.set("loss_ibot", l.item<double>());
    total = total + cfg.loss.ibot.weight * l;
  }
  if (cfg.loss.koleo.weight > 0) {
    const auto& view = s.contrastive_view.cls1.defined() ? s.contrastive_view : s.masked;
    const auto l = loss::koleo_loss(l2n(view.cls1.to(torch::kFloat)));
    rec.set("loss_koleo", l.item<double>());
    total = total + cfg.loss.koleo.weight * l;
  }
  rec.set("loss", total.item<double>());
  return {total, rec};
}

std::pair<double, bool> Trainer::Impl::backward_and_update_grads() {
  if (grad_sync) grad_sync->all_reduce_mean();
  // Prototype layers stay frozen for the first steps (DINO's trick against early collapse).
  if (step < cfg.optim.freeze_last_layer_steps)
    for (const auto& p : params)
      if (p.name.find("last_layer") != std::string::npos && p.param.grad().defined()) p.param.mutable_grad().zero_();
  std::vector<torch::Tensor> grads;
  for (const auto& p : trainable)
    if (p.grad().defined()) grads.push_back(p.grad());
  double norm = 0;
  if (!grads.empty()) {
    std::vector<torch::Tensor> norms;
    for (const auto& g : grads) norms.push_back(g.to(torch::kFloat).norm());
    norm = torch::stack(norms).norm().item<double>();
  }
  // Gradients are already identical on every rank after the all-reduce, so the finiteness verdict is too.
  const bool finite = std::isfinite(norm);
  if (finite && cfg.optim.clip_grad > 0 && norm > cfg.optim.clip_grad) {
    const double scale = cfg.optim.clip_grad / (norm + 1e-6);
    for (auto& g : grads) g.mul_(scale);
  }
  return {norm, finite};
}

void Trainer::Impl::apply_schedules(MetricRecord& rec) {
  const int64_t total = cfg.train.steps;
  const double lr = schedule_value(cfg.optim.lr, step, total);
  const double wd = schedule_value(cfg.optim.weight_decay, step, total);
  optimizer->set_lr_wd(lr, wd);
  rec.set("lr", lr);
  rec.set("wd", wd);
}

StepResult Trainer::step(const std::vector<data::Batch>& micro_batches) {
  Impl& s = *impl_;
  TORCH_CHECK(!micro_batches.empty(), "Trainer::step: no batches");
  StepResult result;
  MetricRecord sum;
  s.optimizer->zero_grad();
  // Stochastic depth draws from a stream of (seed, rank, step): resuming at step N redraws the same masks.
  s.model->vision->set_drop_path_generator(rng::generator(rng::derive(s.cfg.train.seed, 0xD0, s.dist.rank, s.step)));
  const double accum = static_cast<double>(micro_batches.size());
  for (const auto& mb_in : micro_batches) {
    data::Batch mb = mb_in;
    const bool nb = s.device.is_cuda();
    mb.global_crops = mb.global_crops.to(s.device, nb);
    if (mb.local_crops.defined()) mb.local_crops = mb.local_crops.to(s.device, nb);
    mb.masks = mb.masks.to(s.device, nb);
    mb.tokens1 = mb.tokens1.to(s.device, nb);
    mb.tokens2 = mb.tokens2.to(s.device, nb);
    std::optional<model::VisionOutput> shared;
    const TeacherTargets targets = s.teacher_targets(mb, shared);
    const StudentOutputs student = s.student_forward(mb, shared);
    auto [loss, rec] = s.compute_losses(mb, student, targets);
    (loss / accum).backward();
    for (const auto& [k, v] : rec.values) sum.set(k, sum.get(k) + v / accum);
  }
  // The terms are per-rank means over per-rank samples: average them over ranks so the logged values are those of
  // the global batch (every term is a mean over samples), and so a non-finite term on any rank is non-finite on
  // every rank - all ranks then take the same skip/stop branch. Every rank computes the same terms in the same order.
  if (s.dist.distributed()) {
    std::vector<double> values;
    for (const auto& kv : sum.values) values.push_back(kv.second);
    torch::Tensor packed = torch::tensor(values, torch::kDouble).to(s.device);  // NCCL reduces CUDA tensors only
    dist::all_reduce_sum(s.dist, packed);
    packed = packed.cpu().div_(static_cast<double>(s.dist.world_size));
    const double* mean = packed.data_ptr<double>();
    for (size_t i = 0; i < sum.values.size(); ++i) sum.values[i].second = mean[i];
  }
  result.terms = sum;
  result.loss = sum.get("loss");
  for (const auto& [k, v] : sum.values)
    if (!std::isfinite(v)) result.nonfinite += (result.nonfinite.empty() ? "" : ", ") + k;
  auto [grad_norm, grads_finite] = s.backward_and_update_grads();
  // Gradients are identical on every rank after the all-reduce, so this verdict is shared too.
  if (!grads_finite && result.nonfinite.empty()) result.nonfinite = "gradients";
  result.terms.set("grad_norm", grad_norm);
  s.apply_schedules(result.terms);
  const double momentum = schedule_value(s.cfg.teacher.momentum, s.step, s.cfg.train.steps);
  result.terms.set("momentum", momentum);
  result.terms.set("temperature", s.model->temperature().item<double>());
  if (!result.nonfinite.empty()) {
    result.skipped = true;
    s.optimizer->zero_grad();
    return result;  // the step counter does not advance: the same step is retried with the next batch
  }
  s.optimizer->step();
  s.teacher->update(momentum);
  ++s.step;
  return result;
}

}  // namespace tips::train
