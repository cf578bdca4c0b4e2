#include "tips/kernels/soft_cross_entropy.h"

#include "parallel_impl.h"
#include "soft_cross_entropy_rows.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {

bool fused_soft_cross_entropy_applies(const torch::Tensor& logits, const torch::Tensor& probs) {
  return fused_cpu_kernels() && logits.device().is_cpu() && probs.device().is_cpu() && logits.dim() >= 1 &&
         (logits.scalar_type() == torch::kFloat || logits.scalar_type() == torch::kBFloat16) &&
         probs.scalar_type() == torch::kFloat && probs.sizes() == logits.sizes() && !probs.requires_grad() &&
         logits.size(-1) > 0 && logits.numel() > 0;
}

SoftCrossEntropyRows soft_cross_entropy_forward(const torch::Tensor& logits, const torch::Tensor& probs,
                                                double inv_temp) {
  TORCH_CHECK(fused_soft_cross_entropy_applies(logits, probs),
              "soft_cross_entropy_forward: operands not supported: ", logits.sizes(), " ", logits.scalar_type(), ", ",
              probs.sizes(), " ", probs.scalar_type());
#if TIPS_HAVE_CPU_KERNELS
  const auto x = logits.contiguous();
  const auto p = probs.contiguous();
  const int64_t k = x.size(-1), n_rows = x.numel() / k;
  const auto row_shape = x.sizes().slice(0, x.dim() - 1);
  const auto opts = p.options();
  SoftCrossEntropyRows out{torch::empty(row_shape, opts), torch::empty(row_shape, opts), torch::empty(row_shape, opts),
                           torch::empty(row_shape, opts)};
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  detail::parallel_for(0, n_rows, detail::grain_rows(k, int64_t{1} << 16), [&](int64_t begin, int64_t end) {
    avx512::soft_ce_forward_rows(x.data_ptr(), bf16, p.data_ptr<float>(), k, static_cast<float>(inv_temp), begin, end,
                                 out.ce.data_ptr<float>(), out.max.data_ptr<float>(), out.log_sum.data_ptr<float>(),
                                 out.mass.data_ptr<float>());
  });
  return out;
#else
  return {};
#endif
}

torch::Tensor soft_cross_entropy_backward(const torch::Tensor& grad_ce, const torch::Tensor& logits,
                                          const torch::Tensor& probs, const SoftCrossEntropyRows& rows,
                                          double inv_temp) {
  TORCH_CHECK(fused_soft_cross_entropy_applies(logits, probs), "soft_cross_entropy_backward: operands not supported");
  const auto row_shape = logits.sizes().slice(0, logits.dim() - 1);
  for (const auto* t : {&grad_ce, &rows.max, &rows.log_sum, &rows.mass})
    TORCH_CHECK(t->sizes() == row_shape,
                "soft_cross_entropy_backward: the gradient and the saved rows must each have "
                "the logits' row shape ",
                row_shape, ", got ", t->sizes());
#if TIPS_HAVE_CPU_KERNELS
  const auto x = logits.contiguous();
  const auto p = probs.contiguous();
  const auto g = grad_ce.to(torch::kFloat).contiguous();
  const auto max = rows.max.contiguous(), log_sum = rows.log_sum.contiguous(), mass = rows.mass.contiguous();
  const int64_t k = x.size(-1), n_rows = x.numel() / k;
  auto grad = torch::empty_like(x);
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  detail::parallel_for(0, n_rows, detail::grain_rows(k, int64_t{1} << 16), [&](int64_t begin, int64_t end) {
    avx512::soft_ce_backward_rows(x.data_ptr(), bf16, p.data_ptr<float>(), max.data_ptr<float>(),
                                  log_sum.data_ptr<float>(), mass.data_ptr<float>(), g.data_ptr<float>(), k,
                                  static_cast<float>(inv_temp), begin, end, grad.data_ptr());
  });
  return grad;
#else
  return {};
#endif
}

}  // namespace tips::kernels
