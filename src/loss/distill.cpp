#include "tips/loss/distill.h"

#include "loss_impl.h"

namespace tips::loss {

namespace F = torch::nn::functional;

torch::Tensor token_distance(const torch::Tensor& student, const torch::Tensor& teacher, DistillKind kind) {
  TORCH_CHECK(student.sizes() == teacher.sizes() && student.dim() >= 1, "token_distance: student ", student.sizes(),
              " and teacher ", teacher.sizes(), " must have the same shape (..., D)");
  const auto s = detail::at_least_f32(student), t = detail::at_least_f32(teacher).detach();
  if (kind == DistillKind::kCosine) return 1.0 - F::cosine_similarity(s, t, F::CosineSimilarityFuncOptions().dim(-1));
  return F::smooth_l1_loss(s, t, F::SmoothL1LossFuncOptions().reduction(torch::kNone)).mean(-1);
}

}  // namespace tips::loss
