#include "tips/kernels/scaled_residual.h"

#include "bf16_data_impl.h"
#include "parallel_impl.h"
#include "scaled_residual_rows.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

constexpr int64_t kResidualGrain = int64_t{1} << 14;  // values per parallel task

struct FusedScaledResidual : torch::autograd::Function<FusedScaledResidual> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& branch, const torch::Tensor& gamma) {
    ctx->save_for_backward({branch, gamma});
    return scaled_residual_forward(x, branch, gamma);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto g = grads[0].to(torch::kFloat);  // autograd hands back the output's dtype; a no-op then
    auto out = scaled_residual_backward(g, saved[0], saved[1]);
    return {g, out.branch, out.gamma};
  }
};

}  // namespace

bool fused_scaled_residual_applies(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma) {
  return fused_cpu_kernels() && x.defined() && branch.defined() && gamma.defined() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && branch.scalar_type() == torch::kBFloat16 && branch.device().is_cpu() &&
         branch.sizes() == x.sizes() && gamma.scalar_type() == torch::kFloat && gamma.dim() == 1 && x.dim() >= 1 &&
         gamma.size(0) == x.size(-1) && x.numel() > 0;
}

torch::Tensor scaled_residual(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma) {
  if (fused_scaled_residual_applies(x, branch, gamma)) return FusedScaledResidual::apply(x, branch, gamma);
  return x + branch * gamma;
}

torch::Tensor scaled_residual_forward(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma) {
  TORCH_CHECK(fused_scaled_residual_applies(x, branch, gamma), "scaled_residual_forward: needs float32 x (..., D), ",
              "bf16 branch of its shape and float32 gamma (D) on CPU, and the fused kernels; got ", x.sizes(), " ",
              x.scalar_type(), ", ", branch.sizes(), " ", branch.scalar_type(), ", ", gamma.sizes());
  const auto in = x.contiguous(), b = branch.contiguous(), w = gamma.contiguous();
  auto out = torch::empty_like(in);
#if TIPS_HAVE_CPU_KERNELS
  const int64_t d = in.size(-1), n_rows = in.numel() / d;
  detail::parallel_for(0, n_rows, detail::grain_rows(d, kResidualGrain), [&](int64_t begin, int64_t end) {
    avx512::scaled_residual_forward_rows(in.data_ptr<float>(), detail::bf16_data(b), w.data_ptr<float>(), d, begin, end,
                                         out.data_ptr<float>());
  });
#endif
  return out;
}

ScaledResidualGrads scaled_residual_backward(const torch::Tensor& grad, const torch::Tensor& branch,
                                             const torch::Tensor& gamma) {
  TORCH_CHECK(fused_scaled_residual_applies(grad, branch, gamma), "scaled_residual_backward: needs a float32 grad ",
              "of the bf16 branch's shape and float32 gamma (D) on CPU, and the fused kernels; got ", grad.sizes(), " ",
              grad.scalar_type(), ", ", branch.sizes(), " ", branch.scalar_type(), ", ", gamma.sizes());
  const auto g = grad.contiguous(), b = branch.contiguous(), w = gamma.contiguous();
  ScaledResidualGrads out{torch::empty_like(b), torch::zeros_like(w)};
#if TIPS_HAVE_CPU_KERNELS
  const int64_t d = g.size(-1), n_rows = g.numel() / d;
  uint16_t* grad_branch = detail::mutable_bf16_data(out.branch);
  detail::ordered_column_sums(n_rows, detail::grain_rows(d, kResidualGrain), d, out.gamma.data_ptr<float>(),
                              [&](int64_t begin, int64_t end, float* sums) {
                                avx512::scaled_residual_backward_rows(g.data_ptr<float>(), detail::bf16_data(b),
                                                                      w.data_ptr<float>(), d, begin, end, grad_branch,
                                                                      sums);
                              });
#endif
  return out;
}

}  // namespace tips::kernels
