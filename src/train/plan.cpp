#include "tips/train/plan.h"

#include <cstdio>
#include <sstream>

#include "tips/model/heads.h"
#include "tips/model/param_count.h"
#include "tips/train/frozen_teacher.h"
#include "tips/train/step_plan.h"

namespace tips::train {
namespace {

// Multiply-adds x 2 of one forward pass. Attention: QK^T and AV are 2 * n^2 * D each.
double vit_forward_flops(const model::VisionConfig& c, int64_t patches) {
  const double d = c.dim, h = c.mlp_hidden, n = static_cast<double>(patches + 2);  // + 2 CLS tokens
  const double mlp = c.ffn == model::FfnKind::kSwiGlu ? 6 * n * d * h : 4 * n * d * h;
  const double block = 2 * n * d * 3 * d + 2 * n * d * d + 4 * n * n * d + mlp;
  return c.depth * block + 2.0 * patches * 3 * c.patch_size * c.patch_size * d;
}

int64_t patches_of(int64_t size, int64_t patch) { return (size / patch) * (size / patch); }

// Forward + backward FLOPs of one optimizer step over the global batch, as the step runs it: the StepPlan's
// forwards (student forwards 3x a forward: forward + 2x backward; the teacher pass 1x unless it is shared with the
// unmasked student forward; the text streams 3x) plus what each loss term adds (heads, similarity matrices).
double step_flops(const config::RunConfig& cfg, EmaScope ema) {
  config::RunConfig c = cfg;
  c.teacher.ema = ema;
  const StepPlan plan = make_step_plan(c, torch::kCPU);
  const auto& crops = cfg.data.crops;
  const int64_t p = cfg.model.patch_size;
  const double g = vit_forward_flops(cfg.model, patches_of(crops.global_size, p));
  const double loc = vit_forward_flops(cfg.model, patches_of(crops.local_size, p));
  double per_global = 0;
  if (plan.masked_student) per_global += 3 * g;
  if (plan.unmasked_student) per_global += 3 * g;
  if (plan.teacher == TeacherPass::kStudentNoGrad || plan.teacher == TeacherPass::kEmaBackbone) per_global += g;
  if (plan.teacher == TeacherPass::kFrozen)  // forward only: no gradient reaches the frozen model
    per_global += vit_forward_flops(cfg.teacher.model, patches_of(plan.teacher_image_size, cfg.teacher.model.patch_size));
  double per_image = per_global * static_cast<double>(crops.global_count);
  if (plan.local_student) per_image += 3 * static_cast<double>(crops.local_count) * loc;
  per_image += 3 * static_cast<double>(plan.text_streams) * text_forward_flops(cfg.text, cfg.text.max_len);
  for (const auto& term : plan.terms) per_image += term->extra_flops_per_image(cfg);
  return per_image * static_cast<double>(cfg.train.batch_size);
}

std::string millions(double n) {
  if (n == 0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, n >= 1e9 ? "%.3fB" : "%.1fM", n >= 1e9 ? n / 1e9 : n / 1e6);
  return buf;
}

const char* policy_name(EmaScope e) {
  return e == EmaScope::kHeadOnly ? "head_only" : e == EmaScope::kFull ? "full" : "none";
}

}  // namespace

double text_forward_flops(const model::TextConfig& c, int64_t length) {
  const double d = c.dim, h = c.mlp_hidden, l = static_cast<double>(length);
  return c.depth * (2 * l * d * 3 * d + 2 * l * d * d + 4 * l * l * d + 4 * l * d * h);
}

const PolicyPlan& Plan::policy(EmaScope ema) const {
  for (const auto& p : policies)
    if (p.ema == ema) return p;
  TORCH_CHECK(false, "Plan::policy: no row for that policy");
  return policies.front();
}

double Plan::head_only_saving() const {
  return 1.0 - static_cast<double>(policy(EmaScope::kHeadOnly).training_params) /
                   static_cast<double>(policy(EmaScope::kFull).training_params);
}

Plan make_plan(const config::RunConfig& cfg) {
  Plan plan;
  const auto& m = cfg.model;
  plan.student_vision = model::vision_param_count(m);
  // What is trained follows the terms the step runs (the policy rows below change only the teacher).
  const StepPlan step = make_step_plan(cfg, torch::kCPU);
  plan.student_text = step.text_streams > 0 ? model::text_param_count(cfg.text) : 0;
  plan.student_heads = step.heads ? model::heads_param_count(cfg.heads, m.dim) : 0;
  plan.contrastive_scalars =
      step.contrastive_scalars ? (cfg.loss.contrastive.kind == loss::ContrastiveKind::kSigmoid ? 2 : 1) : 0;
  plan.configured = cfg.teacher.ema;
  plan.frozen_teacher = frozen_teacher_parameter_count(cfg);
  if (cfg.teacher.source == TeacherSource::kFrozen && cfg.teacher.text == TextInit::kCopyFrozen) {
    plan.frozen_text = plan.student_text;  // copied from the teacher and never trained
    plan.student_text = 0;
  }
  if (step.distill_projection) plan.distill_projection = (cfg.model.dim + 1) * cfg.teacher.model.dim;

  std::ostringstream v, t, h, b;
  v << (m.preset.empty() ? "custom" : m.preset) << "/" << m.patch_size << " D=" << m.dim << " depth=" << m.depth
    << " mlp=" << m.mlp_hidden << (m.ffn == model::FfnKind::kSwiGlu ? " (SwiGLU)" : "") << " pos " << m.pos_grid << "x"
    << m.pos_grid;
  t << "depth=" << cfg.text.depth << " D=" << cfg.text.dim << " vocab=" << cfg.text.vocab_size << " len="
    << cfg.text.max_len << (plan.student_text ? "" : " (unused: no term reads text)");
  h << "K=" << cfg.heads.prototypes << " hidden=" << cfg.heads.hidden << " bottleneck=" << cfg.heads.bottleneck
    << " layers=" << cfg.heads.num_layers << (cfg.heads.ibot_separate ? ", DINO + iBOT heads" : ", one shared head");
  b << "global batch " << cfg.train.batch_size << "; crops " << cfg.data.crops.global_count << "x"
    << cfg.data.crops.global_size << " + " << cfg.data.crops.local_count << "x" << cfg.data.crops.local_size;
  plan.vision_desc = v.str();
  plan.text_desc = t.str();
  plan.heads_desc = h.str();
  plan.batch_desc = b.str();
  if (plan.frozen_teacher > 0) {
    const auto& tm = cfg.teacher.model;
    std::ostringstream f;
    f << "frozen " << (tm.preset.empty() ? "custom" : tm.preset) << "/" << tm.patch_size << " D=" << tm.dim
      << " depth=" << tm.depth << ", targets " << (cfg.teacher.targets == DistillTargets::kHeads ? "heads" : "features");
    plan.teacher_desc = f.str();
  }

  for (EmaScope ema : {EmaScope::kHeadOnly, EmaScope::kFull, EmaScope::kNone}) {
    PolicyPlan p;
    p.ema = ema;
    const bool ema_teacher = plan.frozen_teacher == 0;  // a frozen teacher keeps no EMA copy under any policy
    p.teacher_vision = ema_teacher && ema == EmaScope::kFull ? plan.student_vision : 0;
    p.teacher_heads = ema_teacher && ema != EmaScope::kNone ? plan.student_heads : 0;
    p.trainable = plan.student_vision + plan.student_text + plan.student_heads + plan.contrastive_scalars +
                  plan.distill_projection;
    p.ema_total = p.teacher_vision + p.teacher_heads;
    p.total = p.trainable + p.ema_total + plan.frozen_teacher + plan.frozen_text;
    p.training_params = plan.student_vision + p.teacher_vision + plan.student_heads + p.teacher_heads;
    p.flops_per_step = step_flops(cfg, ema);
    p.memory_bytes = 4.0 * static_cast<double>(p.total) + (4.0 + 8.0) * static_cast<double>(p.trainable);
    plan.policies.push_back(p);
  }
  return plan;
}

std::string format_plan(const Plan& plan) {
  std::ostringstream os;
  char line[256];
  os << "vision: " << plan.vision_desc << "\ntext:   " << plan.text_desc << "\nheads:  " << plan.heads_desc
     << "\nbatch:  " << plan.batch_desc << "\n";
  if (!plan.teacher_desc.empty()) os << "teacher: " << plan.teacher_desc << "\n";
  os << "\n";
  auto row = [&](const char* label, auto value_of) {
    std::snprintf(line, sizeof line, "%-44s", label);
    os << line;
    for (const auto& p : plan.policies) {
      std::snprintf(line, sizeof line, "%14s", value_of(p).c_str());
      os << line;
    }
    os << "\n";
  };
  row("teacher.ema", [&](const PolicyPlan& p) {
    return std::string(p.ema == plan.configured ? "*" : "") + policy_name(p.ema);
  });
  row("student vision", [&](const PolicyPlan&) { return millions(plan.student_vision); });
  row("student text", [&](const PolicyPlan&) { return millions(plan.student_text); });
  row("student heads", [&](const PolicyPlan&) { return millions(plan.student_heads); });
  row("contrastive scalars (temperature, bias)", [&](const PolicyPlan&) { return std::to_string(plan.contrastive_scalars); });
  row("teacher vision (EMA copy)", [](const PolicyPlan& p) { return millions(p.teacher_vision); });
  row("teacher heads (EMA copy)", [](const PolicyPlan& p) { return millions(p.teacher_heads); });
  if (plan.frozen_teacher > 0) {
    row("frozen teacher (no grad, no optimizer state)", [&](const PolicyPlan&) { return millions(plan.frozen_teacher); });
    row("frozen student text (copied from teacher)", [&](const PolicyPlan&) { return millions(plan.frozen_text); });
    row("distill projection", [&](const PolicyPlan&) { return millions(plan.distill_projection); });
  }
  row("trainable", [](const PolicyPlan& p) { return millions(p.trainable); });
  row("EMA (teacher only)", [](const PolicyPlan& p) { return millions(p.ema_total); });
  row("total held", [](const PolicyPlan& p) { return millions(p.total); });
  row("training params (vision+heads, both copies)", [](const PolicyPlan& p) { return millions(p.training_params); });
  const double full = static_cast<double>(plan.policy(EmaScope::kFull).training_params);
  row("  saving vs full", [&](const PolicyPlan& p) {
    std::snprintf(line, sizeof line, "%.1f%%", 100.0 * (1.0 - static_cast<double>(p.training_params) / full));
    return std::string(line);
  });
  row("compute per step, TFLOP (fwd+bwd)", [&](const PolicyPlan& p) {
    std::snprintf(line, sizeof line, "%.1f", p.flops_per_step / 1e12);
    return std::string(line);
  });
  row("memory, GiB (weights+grads+AdamW)", [&](const PolicyPlan& p) {
    std::snprintf(line, sizeof line, "%.2f", p.memory_bytes / (1024.0 * 1024.0 * 1024.0));
    return std::string(line);
  });
  os << "\n* = configured. training params = student vision + teacher vision + student heads + teacher heads\n"
        "(text excluded; the paper's \"42% fewer\" for ViT-B). FLOPs are analytic matmul counts (backward = 2x\n"
        "forward) with every caption at text.max_len, an upper bound: the text tower skips the padding. Memory is\n"
        "per replica and excludes activations.\n";
  return os.str();
}

}  // namespace tips::train
