#include "tips/loss/ibot.h"

#include "loss_impl.h"

namespace tips::loss {

PatchWeighting patch_weighting(const IbotConfig& cfg) {
  if (!cfg.all_patches) return PatchWeighting::kMaskedOnly;
  return cfg.separate_group_means ? PatchWeighting::kSeparateGroupMeans : PatchWeighting::kAllPatches;
}

torch::Tensor ibot_patch_weights(const torch::Tensor& mask, PatchWeighting mode) {
  TORCH_CHECK(mask.dim() == 2 && mask.scalar_type() == torch::kBool, "ibot_patch_weights: expected bool (B, N), got ",
              mask.sizes(), " ", mask.scalar_type());
  const auto images = static_cast<double>(mask.size(0));
  const auto masked = mask.to(torch::kFloat);                                     // (B, N)
  const auto per_image_mean = [&](const torch::Tensor& group) {                   // group / max(count, 1) / B
    return group / group.sum(1, /*keepdim=*/true).clamp_min(1.0) / images;
  };
  switch (mode) {
    case PatchWeighting::kMaskedOnly:
      return per_image_mean(masked);
    case PatchWeighting::kAllPatches:
      return torch::full(mask.sizes(), 1.0 / (images * static_cast<double>(mask.size(1))), masked.options());
    case PatchWeighting::kSeparateGroupMeans:
      return per_image_mean(masked) + per_image_mean(1.0 - masked);
  }
  TORCH_CHECK(false, "ibot_patch_weights: unknown mode");
  return {};
}

torch::Tensor ibot_patch_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_probs,
                              const torch::Tensor& patch_weight, double student_temp) {
  TORCH_CHECK(student_logits.dim() == 3 && student_logits.sizes() == teacher_probs.sizes() &&
                  patch_weight.sizes() == student_logits.sizes().slice(0, 2),
              "ibot_patch_loss: expected student/teacher (B, N, K) and weight (B, N), got ", student_logits.sizes(),
              ", ", teacher_probs.sizes(), ", ", patch_weight.sizes());
  TORCH_CHECK(student_temp > 0, "ibot_patch_loss: student_temp must be > 0, got ", student_temp);
  const auto ce = detail::soft_cross_entropy(student_logits, teacher_probs, student_temp);  // (B, N)
  return (ce * detail::at_least_f32(patch_weight)).sum();
}

}  // namespace tips::loss
