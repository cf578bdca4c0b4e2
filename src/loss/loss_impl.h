// Private helpers of src/loss/*.cpp.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/kernels/soft_cross_entropy.h"
#include "tips/loss/contrastive.h"

namespace tips::loss::detail {

// Symmetric InfoNCE from both directions' logits (B, G): row i of each is matched with column offset + i
// (this rank's pairs inside the gathered batch). Shared by softmax_infonce and similarity_infonce.
inline ContrastiveTerms symmetric_infonce(const torch::Tensor& logits_i2t, const torch::Tensor& logits_t2i,
                                          int64_t offset) {
  const auto targets = torch::arange(offset, offset + logits_i2t.size(0), logits_i2t.options().dtype(torch::kLong));
  ContrastiveTerms out;
  out.image_to_text = torch::nn::functional::cross_entropy(logits_i2t, targets);
  out.text_to_image = torch::nn::functional::cross_entropy(logits_t2i, targets);
  out.loss = 0.5 * (out.image_to_text + out.text_to_image);
  return out;
}

// Loss math runs in float32 even for bf16/fp16 inputs; float64 stays float64 (finite-difference tests).
inline torch::Tensor at_least_f32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

// CE(p, s) = -sum_k p_k log_softmax(z)_k with z = s / T, and dCE/ds = ((sum_k p_k) * softmax(z) - p) / T.
// Written as one autograd node because the composite (divide, log_softmax, multiply, sum and their four backward
// kernels) allocates six full-size (..., K) buffers per call; for iBOT that is (B, N, K), e.g. 64 x 256 x 65536
// floats = 4 GiB each. This keeps log_softmax(z) for backward, and each direction writes at most two other
// (..., K) buffers. Forward: z, ATen's fused log_softmax, the product with p and its row sum (four passes);
// backward: exp, the scale, and the target term fused into the same buffer by addcmul_ (three). Only the logits
// get a gradient (the caller checks the targets need none).
struct SoftCrossEntropy : torch::autograd::Function<SoftCrossEntropy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& probs, double student_temp) {
    const auto log_q = torch::log_softmax(logits * (1.0 / student_temp), /*dim=*/-1);  // (..., K)
    const auto mass = probs.sum(-1, /*keepdim=*/true);  // (..., 1), 1 for probability rows
    const auto ce = -(probs * log_q).sum(-1);           // (...)
    ctx->save_for_backward({log_q, probs, mass});
    ctx->saved_data["inv_temp"] = 1.0 / student_temp;
    return ce;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &log_q = saved[0], &probs = saved[1], &mass = saved[2];
    const auto g = grads[0].unsqueeze(-1) * ctx->saved_data["inv_temp"].toDouble();  // (..., 1)
    auto grad = log_q.exp().mul_(mass * g).addcmul_(probs, g, /*value=*/-1);         // (..., K)
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

// The same node on tips' fused CPU kernels (kernels/soft_cross_entropy.h): the logits stay in their dtype (bf16
// under autocast), each direction reads every row once, and only per-row scalars are kept for backward.
struct FusedSoftCrossEntropy : torch::autograd::Function<FusedSoftCrossEntropy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& probs, double student_temp) {
    auto rows = kernels::soft_cross_entropy_forward(logits, probs, 1.0 / student_temp);
    ctx->save_for_backward({logits, probs, rows.max, rows.log_sum, rows.mass});
    ctx->saved_data["inv_temp"] = 1.0 / student_temp;
    return rows.ce;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const kernels::SoftCrossEntropyRows rows{torch::Tensor(), saved[2], saved[3], saved[4]};
    auto grad = kernels::soft_cross_entropy_backward(grads[0], saved[0], saved[1], rows,
                                                     ctx->saved_data["inv_temp"].toDouble());
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

// -sum_k p[..., k] * log_softmax(logits / temp)[..., k]  ->  (...)  the per-row cross-entropy, float32 (float64
// for float64 inputs).
inline torch::Tensor soft_cross_entropy(const torch::Tensor& student_logits, const torch::Tensor& target_probs,
                                        double student_temp) {
  const auto p = at_least_f32(target_probs);
  if (p.requires_grad()) {  // targets with a gradient (not the trainer's): the differentiable composite
    return -(p * torch::log_softmax(at_least_f32(student_logits) / student_temp, /*dim=*/-1)).sum(-1);
  }
  if (kernels::fused_soft_cross_entropy_applies(student_logits, p)) {
    return FusedSoftCrossEntropy::apply(student_logits, p, student_temp);
  }
  const auto s = at_least_f32(student_logits);
  return SoftCrossEntropy::apply(s, p.to(s.scalar_type()), student_temp);
}

}  // namespace tips::loss::detail
