// The DINO term: the student's local crops (and optionally its masked global crops) predict the teacher's
// prototype distribution of the unmasked global crop's CLS token.
#include "terms.h"
#include "tips/core/compat.h"
#include "tips/core/error.h"
#include "tips/loss/dino.h"
#include "tips/model/heads.h"
#include "tips/train/forwards.h"
#include "tips/core/schedule.h"
#include "tips/train/teacher.h"

namespace tips::train::terms {

class DinoTerm final : public LossTerm {
 public:
  DinoTerm(const loss::DinoConfig& c, bool local_crops, int64_t local_count)
      : c_(c), local_crops_(local_crops), local_count_(local_count) {}
  std::string name() const override { return "dino"; }
  double weight() const override { return c_.weight; }
  std::string describe() const override {
    const char* cls = c_.cls == loss::ClsChoice::kCls1   ? "CLS1"
                      : c_.cls == loss::ClsChoice::kCls2 ? "CLS2"
                                                         : "both CLS";
    return std::string(cls) + (local_crops_ ? ", local crops" : "") + (c_.global_student ? ", masked global crops" : "");
  }

  TermNeeds needs() const override {
    TermNeeds n;
    n.teacher = true;
    n.heads = true;
    n.local_student = local_crops_;
    n.masked_student = c_.global_student;
    return n;
  }

  // The teacher's DINO scores of the unmasked global crops' CLS1 (or CLS2), and of CLS2 as well for cls = both
  // (the second CLS shares the DINO head and its center).
  std::vector<TargetRequest> target_requests(TermContext& ctx) const override {
    torch::NoGradGuard no_grad;
    compat::AutocastGuard autocast(ctx.batch.global_crops.device().type(), ctx.bf16, torch::kBFloat16);
    const auto& feats = ctx.forwards.teacher;
    auto head = ctx.teacher.teacher_heads()->dino;
    const double temp = schedule_value(c_.teacher_temp, ctx.step, ctx.total_steps);
    const auto request = [&](const torch::Tensor& cls) {  // (G*B, D) -> float32 (G*B, K)
      return TargetRequest{TargetKind::kDino, head->forward(cls).to(torch::kFloat), temp};
    };
    std::vector<TargetRequest> out{request(c_.cls == loss::ClsChoice::kCls2 ? feats.cls2 : feats.cls1)};
    if (c_.cls == loss::ClsChoice::kBoth) out.push_back(request(feats.cls2));
    return out;
  }

  TermValue compute(TermContext& ctx) const override {
    const auto& resolved = ctx.targets(*this);
    const int64_t G = ctx.batch.global_crops.size(0), B = ctx.batch_size();
    const torch::Tensor targets = resolved[0].view({G, B, -1});  // (G, B, K)
    const torch::Tensor targets_cls2 = resolved.size() > 1 ? resolved[1].view({G, B, -1}) : torch::Tensor();
    const bool cls2_only = c_.cls == loss::ClsChoice::kCls2;
    torch::Tensor l = student_loss(ctx, targets, cls2_only);
    if (targets_cls2.defined()) l = 0.5 * (l + student_loss(ctx, targets_cls2, /*cls2=*/true));
    TermValue value{l, {}};
    if (ctx.diagnostics) value.parts.emplace_back("dino_target_entropy", loss::mean_entropy(targets));
    return value;
  }

  double extra_flops_per_image(const config::RunConfig& cfg) const override {
    const double head = 2.0 * static_cast<double>(model::dino_head_param_count(cfg.heads, cfg.model.dim));
    const double cls_per_view = c_.cls == loss::ClsChoice::kBoth ? 2 : 1;
    const double teacher = static_cast<double>(cfg.data.crops.global_count);  // one forward per global crop
    const double students = (local_crops_ ? static_cast<double>(local_count_) : 0.0) +
                            (c_.global_student ? static_cast<double>(cfg.data.crops.global_count) : 0.0);
    return head * cls_per_view * (teacher + 3 * students);
  }

 private:
  torch::Tensor student_loss(TermContext& ctx, const torch::Tensor& targets, bool cls2) const {
    compat::AutocastGuard autocast(ctx.batch.global_crops.device().type(), ctx.bf16, torch::kBFloat16);
    const int64_t G = ctx.batch.global_crops.size(0), B = ctx.batch_size(), K = targets.size(-1);
    const auto& f = ctx.forwards;
    auto head = ctx.model->heads->dino;
    std::vector<torch::Tensor> students;  // each (V, B, K)
    if (local_crops_) students.push_back(head->forward(cls2 ? f.local.cls2 : f.local.cls1).view({-1, B, K}));
    if (c_.global_student) students.push_back(head->forward(cls2 ? f.masked.cls2 : f.masked.cls1).view({G, B, K}));
    return loss::dino_loss(torch::cat(students, 0).to(torch::kFloat), targets, c_.student_temp);
  }

  loss::DinoConfig c_;
  bool local_crops_;
  int64_t local_count_;
};

std::shared_ptr<const LossTerm> make_dino(const config::RunConfig& cfg) {
  const bool local = cfg.data.crops.local_count > 0;
  if (!local && !cfg.loss.dino.global_student)
    throw ConfigError("loss.dino.weight=" + std::to_string(cfg.loss.dino.weight) +
                          " but DINO has no student view: data.crops.local_count=0 and loss.dino.global_student=false",
                      "add local crops (data.crops.local_count > 0), set loss.dino.global_student=true, or set "
                      "loss.dino.weight=0");
  return std::make_shared<DinoTerm>(cfg.loss.dino, local, cfg.data.crops.local_count);
}

}  // namespace tips::train::terms
