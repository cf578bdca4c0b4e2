#include "tips/train/teacher.h"

#include <map>

#include "tips/core/error.h"
#include "tips/loss/dino.h"

namespace tips::train {
namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

std::shared_ptr<torch::nn::Module> frozen_clone(const torch::nn::Module& m) {
  auto copy = m.clone();
  for (auto& p : copy->parameters()) p.requires_grad_(false);
  return copy;
}

void append_prefixed(Named& out, const std::string& prefix, const torch::nn::Module& m) {
  for (const auto& item : m.named_parameters()) out.emplace_back(prefix + item.key(), item.value());
}

}  // namespace

TargetNorm target_norm(const loss::DinoConfig& cfg) { return {cfg.centering, cfg.center_momentum, cfg.sinkhorn_iters}; }
TargetNorm target_norm(const loss::IbotConfig& cfg) { return {cfg.centering, cfg.center_momentum, cfg.sinkhorn_iters}; }

Teacher::Teacher(const TeacherConfig& cfg, TargetNorm dino, TargetNorm ibot, model::ProjectionHeads student_heads,
                 std::shared_ptr<torch::nn::Module> student_backbone, FrozenModel frozen)
    : cfg_(cfg), dino_(dino), ibot_(ibot) {
  TORCH_CHECK(student_heads, "Teacher: student heads are required");
  const int64_t k = student_heads->config().prototypes;
  // Centers live with the heads (CUDA when training there): targets() combines them with head logits.
  const auto center_opts = torch::TensorOptions().device(student_heads->parameters().front().device());
  dino_center_ = torch::zeros({k}, center_opts);
  ibot_center_ = torch::zeros({k}, center_opts);
  if (cfg_.source == TeacherSource::kFrozen) {
    TORCH_CHECK(frozen.backbone, "Teacher: teacher.source=frozen needs the frozen model");
    backbone_ = frozen.backbone;
    teacher_heads_ = frozen.heads;
    for (auto& p : backbone_->parameters()) p.requires_grad_(false);
    if (teacher_heads_)
      for (auto& p : teacher_heads_->parameters()) p.requires_grad_(false);
    return;
  }
  if (cfg_.ema == EmaScope::kNone) {
    teacher_heads_ = student_heads;
    return;
  }
  teacher_heads_ = model::ProjectionHeads(std::dynamic_pointer_cast<model::ProjectionHeadsImpl>(
      frozen_clone(*student_heads)));
  add_ema_pairs(*student_heads, *teacher_heads_);
  if (cfg_.ema == EmaScope::kFull) {
    if (!student_backbone)
      throw ConfigError("teacher.ema: full needs the student backbone to copy, but none was given",
                        "use teacher.ema: head_only (TIPSv2) or pass the vision tower to Teacher");
    backbone_ = frozen_clone(*student_backbone);
    add_ema_pairs(*student_backbone, *backbone_);
  }
}

void Teacher::add_ema_pairs(const torch::nn::Module& student, const torch::nn::Module& copy) {
  const auto copies = copy.named_parameters();
  for (const auto& item : student.named_parameters()) {
    const torch::Tensor* t = copies.find(item.key());
    TORCH_CHECK(t && t->sizes() == item.value().sizes(), "Teacher: EMA copy lacks or mis-shapes '", item.key(), "'");
    ema_params_.push_back(*t);
    student_params_.push_back(item.value());
  }
}

void Teacher::update(double momentum) {
  TORCH_CHECK(momentum >= 0.0 && momentum <= 1.0, "Teacher::update: momentum must be in [0, 1], got ", momentum);
  if (ema_params_.empty()) return;
  torch::NoGradGuard no_grad;
  // Two fused multi-tensor kernels instead of a loop of 2 * #params small ops.
  at::_foreach_mul_(ema_params_, momentum);
  at::_foreach_add_(ema_params_, student_params_, /*alpha=*/1.0 - momentum);
}

torch::Tensor& Teacher::center_ref(TargetKind kind) { return kind == TargetKind::kDino ? dino_center_ : ibot_center_; }

const torch::Tensor& Teacher::center(TargetKind kind) const {
  return kind == TargetKind::kDino ? dino_center_ : ibot_center_;
}

torch::Tensor Teacher::targets(TargetKind kind, const torch::Tensor& logits, double temp,
                               const loss::SumReducer& reduce) {
  const TargetNorm& n = norm(kind);
  if (n.centering == loss::Centering::kSinkhorn) {
    const auto rows = logits.reshape({-1, logits.size(-1)});
    return loss::sinkhorn_knopp(rows, temp, n.sinkhorn_iters, reduce).reshape(logits.sizes());
  }
  auto& c = center_ref(kind);
  if (c.device() != logits.device()) c = c.to(logits.device());
  auto probs = loss::softmax_center_teacher(logits, c, temp);
  stage_center(kind, logits, reduce);
  return probs;
}

std::vector<torch::Tensor> Teacher::targets(const std::vector<TargetRequest>& requests,
                                            const loss::SumReducer& reduce) {
  std::vector<torch::Tensor> out(requests.size());
  std::vector<loss::SinkhornProblem> problems;
  std::vector<size_t> solved_for;  // the request of each problem
  for (size_t i = 0; i < requests.size(); ++i) {
    const TargetRequest& r = requests[i];
    const TargetNorm& n = norm(r.kind);
    if (n.centering != loss::Centering::kSinkhorn) {
      out[i] = targets(r.kind, r.logits, r.temp, reduce);
      continue;
    }
    problems.push_back({r.logits.reshape({-1, r.logits.size(-1)}), r.temp, n.sinkhorn_iters});
    solved_for.push_back(i);
  }
  if (problems.empty()) return out;
  const auto solved = loss::sinkhorn_knopp_joint(problems, reduce);
  for (size_t j = 0; j < solved.size(); ++j)
    out[solved_for[j]] = solved[j].reshape(requests[solved_for[j]].logits.sizes());
  return out;
}

void Teacher::stage_center(TargetKind kind, const torch::Tensor& logits, const loss::SumReducer& reduce) {
  const auto& c = center_ref(kind);
  TORCH_CHECK(logits.size(-1) == c.size(0), "Teacher::stage_center: expected (..., ", c.size(0), "), got ",
              logits.sizes());
  torch::NoGradGuard no_grad;
  const auto rows = logits.reshape({-1, logits.size(-1)}).to(torch::kFloat);  // (M, K)
  const auto sum = loss::global_sum(reduce, rows.sum(0));
  const auto count = loss::global_sum(reduce, torch::full({}, static_cast<double>(rows.size(0)), rows.options()));
  Pending& p = pending_[static_cast<int>(kind)];
  p.sum = p.sum.defined() ? p.sum + sum : sum;
  p.count = p.count.defined() ? p.count + count : count;
}

void Teacher::commit_centers() {
  torch::NoGradGuard no_grad;
  for (TargetKind kind : {TargetKind::kDino, TargetKind::kIbot}) {
    Pending& p = pending_[static_cast<int>(kind)];
    if (!p.sum.defined()) continue;
    auto& c = center_ref(kind);
    if (c.device() != p.sum.device()) c = c.to(p.sum.device());
    const double m = norm(kind).center_momentum;
    c.mul_(m).add_(p.sum / p.count.clamp_min(1.0), /*alpha=*/1.0 - m);
    p = Pending{};
  }
}

void Teacher::discard_centers() {
  for (auto& p : pending_) p = Pending{};
}

void Teacher::update_center(TargetKind kind, const torch::Tensor& logits, const loss::SumReducer& reduce) {
  stage_center(kind, logits, reduce);
  commit_centers();
}

std::vector<std::pair<std::string, torch::Tensor>> Teacher::state() const {
  Named out{{"dino_center", dino_center_}, {"ibot_center", ibot_center_}};
  if (frozen()) return out;  // the frozen model is read again from teacher.weights
  if (cfg_.ema != EmaScope::kNone) append_prefixed(out, "heads.", *teacher_heads_);
  if (backbone_) append_prefixed(out, "backbone.", *backbone_);
  return out;
}

void Teacher::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  std::map<std::string, torch::Tensor> given(named.begin(), named.end());
  const char* hint = "the checkpoint was probably written with another teacher.ema or heads config; "
                     "resume with the same config";
  torch::NoGradGuard no_grad;
  for (const auto& [name, dst] : state()) {
    auto it = given.find(name);
    if (it == given.end()) throw CheckpointError("teacher state: missing entry '" + name + "'", hint);
    if (it->second.sizes() != dst.sizes()) {
      throw CheckpointError("teacher state: '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                                c10::str(dst.sizes()),
                            hint);
    }
    dst.copy_(it->second);  // dst shares storage with the held tensor (centers included)
    given.erase(it);
  }
  if (!given.empty()) throw CheckpointError("teacher state: unexpected entry '" + given.begin()->first + "'", hint);
}

int64_t Teacher::frozen_parameter_count() const {
  if (!frozen()) return 0;
  int64_t n = 0;
  for (const auto& p : backbone_->parameters()) n += p.numel();
  if (teacher_heads_)
    for (const auto& p : teacher_heads_->parameters()) n += p.numel();
  return n;
}

int64_t Teacher::parameter_count() const {
  int64_t n = 0;
  for (const auto& t : ema_params_) n += t.numel();
  return n;
}

}  // namespace tips::train
