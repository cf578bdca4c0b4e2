#include "tips/kernels/layer_norm.h"

#include <algorithm>
#include <vector>

#include "bf16_data_impl.h"
#include "layer_norm_rows.h"
#include "parallel_impl.h"
#include "tips/core/compat.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

struct FusedLayerNorm : torch::autograd::Function<FusedLayerNorm> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
    auto rows = layer_norm_bf16_forward(x, weight, bias, eps);
    ctx->save_for_backward({x, weight, rows.mean, rows.rstd});
    return rows.y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto g = layer_norm_bf16_backward(grads[0], saved[0], saved[1], saved[2], saved[3]);
    return {g.x, g.weight, g.bias, torch::Tensor()};
  }
};

}  // namespace

bool fused_layer_norm_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!fused_cpu_kernels() || !x.defined() || !weight.defined() || !bias.defined()) return false;
  const auto autocast = compat::autocast_state(c10::DeviceType::CPU);
  return autocast.enabled && autocast.dtype == torch::kBFloat16 && x.device().is_cpu() && x.dim() >= 1 &&
         x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
         bias.scalar_type() == torch::kFloat && weight.dim() == 1 && weight.size(0) == x.size(-1) &&
         bias.sizes() == weight.sizes() && x.numel() > 0;
}

torch::Tensor layer_norm_for_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    double eps) {
  if (fused_layer_norm_applies(x, weight, bias)) return FusedLayerNorm::apply(x, weight, bias, eps);
  return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

LayerNormRows layer_norm_bf16_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      double eps) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
                  bias.scalar_type() == torch::kFloat && weight.dim() == 1 && weight.size(0) == x.size(-1) &&
                  bias.sizes() == weight.sizes() && fused_cpu_kernels(),
              "layer_norm_bf16_forward: needs float32 x (..., D), weight and bias (D), and the fused kernels");
  const auto in = x.contiguous(), w = weight.contiguous(), b = bias.contiguous();
  const int64_t d = in.size(-1), n_rows = in.numel() / d;
  const auto row_shape = in.sizes().slice(0, in.dim() - 1);
  LayerNormRows out{torch::empty(in.sizes(), in.options().dtype(torch::kBFloat16)),
                    torch::empty(row_shape, in.options()), torch::empty(row_shape, in.options())};
#if TIPS_HAVE_CPU_KERNELS
  uint16_t* y = detail::mutable_bf16_data(out.y);
  detail::parallel_for(0, n_rows, detail::grain_rows(d, int64_t{1} << 14), [&](int64_t begin, int64_t end) {
    avx512::layer_norm_forward_rows(in.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), d,
                                    static_cast<float>(eps), begin, end, y, out.mean.data_ptr<float>(),
                                    out.rstd.data_ptr<float>());
  });
#endif
  return out;
}

LayerNormGrads layer_norm_bf16_backward(const torch::Tensor& grad_y, const torch::Tensor& x,
                                        const torch::Tensor& weight, const torch::Tensor& mean,
                                        const torch::Tensor& rstd) {
  TORCH_CHECK(grad_y.sizes() == x.sizes() && x.scalar_type() == torch::kFloat &&
                  (grad_y.scalar_type() == torch::kBFloat16 || grad_y.scalar_type() == torch::kFloat) &&
                  mean.numel() * x.size(-1) == x.numel() && rstd.sizes() == mean.sizes() && fused_cpu_kernels(),
              "layer_norm_bf16_backward: grad ", grad_y.sizes(), " ", grad_y.scalar_type(), " does not match x ",
              x.sizes(), " ", x.scalar_type(), " and its saved rows");
  const auto dy = grad_y.contiguous(), in = x.contiguous(), w = weight.contiguous();
  const auto m = mean.contiguous(), r = rstd.contiguous();
  const int64_t d = in.size(-1), n_rows = in.numel() / d;
  LayerNormGrads out{torch::empty_like(in), torch::zeros_like(w), torch::zeros_like(w)};
#if TIPS_HAVE_CPU_KERNELS
  const bool bf16 = dy.scalar_type() == torch::kBFloat16;
  std::vector<float> total(static_cast<size_t>(2 * d), 0.0f);  // [dw | db]
  detail::ordered_column_sums(n_rows, detail::grain_rows(d, int64_t{1} << 14), 2 * d, total.data(),
                              [&](int64_t begin, int64_t end, float* sums) {
                                avx512::layer_norm_backward_rows(
                                    dy.data_ptr(), bf16, in.data_ptr<float>(), w.data_ptr<float>(), m.data_ptr<float>(),
                                    r.data_ptr<float>(), d, begin, end, out.x.data_ptr<float>(), sums, sums + d);
                              });
  std::copy(total.begin(), total.begin() + d, out.weight.data_ptr<float>());
  std::copy(total.begin() + d, total.end(), out.bias.data_ptr<float>());
#endif
  return out;
}

}  // namespace tips::kernels
