// tips/train/teacher.h - the stateful half of self-distillation: the EMA teacher copies selected by
// `teacher.ema`, and the centers of the DINO / iBOT targets. The losses themselves are pure (loss/*.h).
//
//   teacher.ema = head_only (TIPSv2): EMA copies of the projection heads; the teacher backbone IS the student
//                 backbone (run it under no_grad). Holds ~2 heads of parameters.
//   teacher.ema = full (TIPS v1, DINOv2): EMA copies of the heads and of the backbone.
//   teacher.ema = none: no copies; the teacher heads ARE the student heads (unstable per the paper; ablation).
//
// Legend: B batch, N patches, K prototypes, M rows of any leading shape.
// Example (one step):
//   Teacher teacher(cfg.teacher, target_norm(cfg.loss.dino), target_norm(cfg.loss.ibot), heads, vit.ptr());
//   { torch::NoGradGuard ng;
//     auto out = teacher.teacher_backbone(vit)->forward(global_crop);
//     auto t_cls = teacher.targets(TargetKind::kDino, teacher.teacher_heads()->dino->forward(out.cls1),
//                                  /*temp=*/0.04, all_reduce_sum); }
//   ... losses, backward, optimizer step ...
//   teacher.commit_centers();             // only when the step is accepted (else discard_centers())
//   teacher.update(/*momentum=*/0.994);
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tips/loss/config.h"
#include "tips/loss/reducer.h"
#include "tips/model/heads.h"
#include "tips/train/config.h"

namespace tips::train {

// How one target family (DINO or iBOT) normalises the teacher scores.
struct TargetNorm {
  loss::Centering centering = loss::Centering::kEma;  // ema center + sharpen | sinkhorn
  double center_momentum = 0.9;                       // center <- m * center + (1 - m) * batch mean
  int64_t sinkhorn_iters = 3;
};
TargetNorm target_norm(const loss::DinoConfig& cfg);
TargetNorm target_norm(const loss::IbotConfig& cfg);

enum class TargetKind { kDino, kIbot };

// Head scores (..., K) whose targets a loss term reads (LossTerm::target_requests), with the teacher temperature.
struct TargetRequest {
  TargetKind kind;
  torch::Tensor logits;
  double temp;
};

// A fixed teacher model (teacher.source = frozen): its image tower and, for teacher.targets = heads, its heads.
// Never updated, never given a gradient; not part of the training checkpoint (teacher.weights is read again).
struct FrozenModel {
  std::shared_ptr<torch::nn::Module> backbone;  // a model::VisionTransformerImpl
  model::ProjectionHeads heads{nullptr};        // null for teacher.targets = features
};

class Teacher {
 public:
  // Build it after the student is on its device: the EMA copies are cloned there (Module::to keeps tensor
  // identity, so moving later would leave the copies behind). Centers follow the logits' device lazily.
  // student_heads: the student's heads (kept by reference for update()).
  // student_backbone: the student vision tower; cloned for ema=full (must be a torch::nn::Cloneable), otherwise
  //                   unused and may be null.
  // frozen: the fixed teacher when cfg.source == frozen (then no EMA copy is made and update() does nothing).
  Teacher(const TeacherConfig& cfg, TargetNorm dino, TargetNorm ibot, model::ProjectionHeads student_heads,
          std::shared_ptr<torch::nn::Module> student_backbone = nullptr, FrozenModel frozen = {});

  EmaScope scope() const { return cfg_.ema; }
  bool frozen() const { return cfg_.source == TeacherSource::kFrozen; }

  // Heads producing teacher scores: the EMA copy (head_only, full), the student's own heads (none), or the frozen
  // teacher's (null when a frozen teacher gives features only).
  model::ProjectionHeads teacher_heads() const { return teacher_heads_; }

  // The backbone producing teacher features: the EMA copy for full, the frozen model, else `student` itself.
  // Holder is the TORCH_MODULE holder type of the backbone (e.g. model::VisionTransformer).
  template <class Holder>
  Holder teacher_backbone(const Holder& student) const {
    if (!backbone_) return student;
    auto impl = std::dynamic_pointer_cast<typename Holder::ContainedType>(backbone_);
    TORCH_CHECK(impl, "Teacher::teacher_backbone: the EMA backbone is not a ", typeid(typename Holder::ContainedType).name());
    return Holder(impl);
  }
  // The EMA backbone copy (full) or nullptr.
  std::shared_ptr<torch::nn::Module> backbone_copy() const { return backbone_; }

  // EMA step over every held copy, fused over tensors: t <- momentum * t + (1 - momentum) * s. No-op for none.
  void update(double momentum);

  // Teacher targets (float32, detached, shape of logits, rows summing to 1) from raw head scores (..., K):
  //   ema centering: softmax((logits - center) / temp) with the center from before this step; the batch's
  //                  statistics are staged (stage_center) and reach the center only at commit_centers();
  //   sinkhorn:      sinkhorn_knopp over all rows of the global batch (reduce = sum over ranks).
  // Pass only the rows the loss uses (the masked patches for iBOT, every patch for iBOT++), so that the center
  // and the Sinkhorn marginals are statistics of those rows, as in DINOv2.
  torch::Tensor targets(TargetKind kind, const torch::Tensor& logits, double temp, const loss::SumReducer& reduce = {});
  // The same for several requests at once, in their order: every Sinkhorn-centred request goes into one
  // sinkhorn_knopp_joint (one reduce per iteration for all of them); EMA-centred ones are resolved one by one.
  std::vector<torch::Tensor> targets(const std::vector<TargetRequest>& requests, const loss::SumReducer& reduce = {});

  // Stages the rows of logits (..., K) for the next center update: their sum and count over all ranks are added
  // to this step's pending statistics (one pending sum per kind, over every micro-batch of the step).
  void stage_center(TargetKind kind, const torch::Tensor& logits, const loss::SumReducer& reduce = {});
  // Applies the step's staged statistics, once per kind with rows:
  //   center <- m * center + (1 - m) * (sum of staged rows) / (number of staged rows).
  // Call it only when the step is accepted; a skipped step calls discard_centers() and leaves the centers as they
  // were, so one non-finite batch cannot poison them.
  void commit_centers();
  void discard_centers();
  // stage_center + commit_centers in one call (tests, tools).
  void update_center(TargetKind kind, const torch::Tensor& logits, const loss::SumReducer& reduce = {});
  const torch::Tensor& center(TargetKind kind) const;  // (K) float32

  // Checkpoint hooks. Names: "dino_center", "ibot_center", "heads.<param>" (head_only, full),
  // "backbone.<param>" (full). load_state is strict: it throws CheckpointError on a missing, unexpected or
  // mis-shaped entry (e.g. a checkpoint written with another teacher.ema).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& named);

  // Number of parameters held only by the teacher (EMA copies): 0 for none and for a frozen teacher.
  int64_t parameter_count() const;
  // Parameters of a frozen teacher (backbone and heads), else 0.
  int64_t frozen_parameter_count() const;

 private:
  torch::Tensor& center_ref(TargetKind kind);
  const TargetNorm& norm(TargetKind kind) const { return kind == TargetKind::kDino ? dino_ : ibot_; }
  void add_ema_pairs(const torch::nn::Module& student, const torch::nn::Module& copy);

  TeacherConfig cfg_;
  TargetNorm dino_, ibot_;
  model::ProjectionHeads teacher_heads_{nullptr};
  std::shared_ptr<torch::nn::Module> backbone_;
  std::vector<torch::Tensor> ema_params_;      // teacher copies, aligned with student_params_
  std::vector<torch::Tensor> student_params_;
  torch::Tensor dino_center_, ibot_center_;    // (K) float32
  struct Pending {
    torch::Tensor sum;    // (K) float32: staged rows summed over every rank and micro-batch
    torch::Tensor count;  // () float32: how many rows
  };
  Pending pending_[2];                         // indexed by TargetKind
};

}  // namespace tips::train
