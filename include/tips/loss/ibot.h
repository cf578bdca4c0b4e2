// tips/loss/ibot.h - patch-level self-distillation (iBOT, and TIPSv2's iBOT++) as a pure weighted
// cross-entropy. Which patches count, and how they are averaged, is entirely in the (B, N) weight tensor
// built by ibot_patch_weights(); the loss itself is a plain weighted sum.
//
// Legend: B images, N patches per image, K prototypes. Student = masked global crop, teacher = unmasked.
// Example:
//   auto w = loss::ibot_patch_weights(mask, loss::PatchWeighting::kAllPatches);   // (B, N)
//   auto l = loss::ibot_patch_loss(student_patch_logits, teacher_patch_probs, w, /*student_temp=*/0.1);
#pragma once
#include <torch/torch.h>

#include "tips/loss/config.h"

namespace tips::loss {

enum class PatchWeighting {
  // iBOT / TIPS v1 / DINOv2: per image, the mean CE over its masked patches; then the mean over ALL B images.
  // An image with no masked patch contributes 0 but still counts in the denominator B - exactly DINOv2's
  // iBOTPatchLoss (forward and forward_masked both divide by the number of images, masked or not).
  kMaskedOnly,
  // iBOT++ (TIPSv2 Eq. 3): every patch, masked or visible, with the same weight 1 / (B * N).
  // Equals r * mean(CE_masked) + (1 - r) * mean(CE_visible) for a uniform mask ratio r.
  kAllPatches,
  // Ablation: per image mean(CE_masked) + mean(CE_visible) (an empty group contributes 0), then mean over images.
  kSeparateGroupMeans,
};

// The weighting selected by loss.ibot.{all_patches, separate_group_means}.
PatchWeighting patch_weighting(const IbotConfig& cfg);

// mask: bool (B, N), true = the student saw the mask token at that patch. Returns float32 (B, N) weights.
torch::Tensor ibot_patch_weights(const torch::Tensor& mask, PatchWeighting mode);

// sum_{b,n} weight[b,n] * CE(teacher_probs[b,n], student_logits[b,n] / student_temp)  ->  () float32.
//   student_logits: (B, N, K) any float dtype; teacher_probs: (B, N, K) rows summing to 1 (no grad expected);
//   patch_weight: (B, N) from ibot_patch_weights (or any non-negative weights).
torch::Tensor ibot_patch_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_probs,
                              const torch::Tensor& patch_weight, double student_temp);

}  // namespace tips::loss
