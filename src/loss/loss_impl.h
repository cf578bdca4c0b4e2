// Private helpers of src/loss/*.cpp.
#pragma once
#include <torch/torch.h>

namespace tips::loss::detail {

// Loss math runs in float32 even for bf16/fp16 inputs; float64 stays float64 (finite-difference tests).
inline torch::Tensor at_least_f32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

// -sum_k p[..., k] * log_softmax(logits / temp)[..., k]  ->  (...)  the per-row cross-entropy.
inline torch::Tensor soft_cross_entropy(const torch::Tensor& student_logits, const torch::Tensor& target_probs,
                                        double student_temp) {
  const auto log_p = torch::log_softmax(at_least_f32(student_logits) / student_temp, /*dim=*/-1);
  return -(at_least_f32(target_probs) * log_p).sum(-1);
}

}  // namespace tips::loss::detail
