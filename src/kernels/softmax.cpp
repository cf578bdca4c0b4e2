#include "tips/kernels/softmax.h"

#include "parallel_impl.h"
#include "softmax_rows.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

constexpr int64_t kGrainValues = int64_t{1} << 14;  // values per parallel task

struct FusedScaledSoftmax : torch::autograd::Function<FusedScaledSoftmax> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double scale) {
    auto y = scaled_softmax_forward(x, scale);
    ctx->save_for_backward({y});
    ctx->saved_data["scale"] = scale;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto y = ctx->get_saved_variables()[0];
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto g = grads[0].to(y.scalar_type());  // autograd hands back the output's dtype; this is a no-op then
    return {scaled_softmax_backward(g, y, scale), torch::Tensor()};
  }
};

void check_scale(double scale, const char* what) { TORCH_CHECK(scale > 0.0, what, ": scale must be > 0, got ", scale); }

}  // namespace

bool fused_softmax_applies(const torch::Tensor& x) {
  return fused_cpu_kernels() && x.device().is_cpu() && x.dim() >= 1 &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16);
}

torch::Tensor scaled_softmax(const torch::Tensor& x, double scale) {
  check_scale(scale, "scaled_softmax");
  if (fused_softmax_applies(x) && x.numel() > 0) return FusedScaledSoftmax::apply(x, scale);
  return torch::softmax(x * scale, /*dim=*/-1);
}

torch::Tensor scaled_softmax_forward(const torch::Tensor& x, double scale) {
  check_scale(scale, "scaled_softmax_forward");
  TORCH_CHECK(fused_softmax_applies(x), "scaled_softmax_forward: needs a float32 or bf16 CPU tensor and the fused ",
              "kernels, got ", x.scalar_type(), " on ", x.device());
  const auto in = x.contiguous();
  auto out = torch::empty_like(in);
#if TIPS_HAVE_CPU_KERNELS
  const int64_t n = in.size(-1), rows = n == 0 ? 0 : in.numel() / n;
  const bool bf16 = in.scalar_type() == torch::kBFloat16;
  detail::parallel_for(0, rows, detail::grain_rows(n, kGrainValues), [&](int64_t begin, int64_t end) {
    avx512::softmax_forward_rows(in.data_ptr(), bf16, n, static_cast<float>(scale), begin, end, out.data_ptr());
  });
#endif
  return out;
}

torch::Tensor scaled_softmax_backward(const torch::Tensor& grad, const torch::Tensor& y, double scale) {
  check_scale(scale, "scaled_softmax_backward");
  TORCH_CHECK(fused_softmax_applies(y) && grad.scalar_type() == y.scalar_type() && grad.device().is_cpu() &&
                  grad.sizes() == y.sizes(),
              "scaled_softmax_backward: needs CPU grad and output of one shape and dtype (float32 or bf16), got ",
              grad.sizes(), " ", grad.scalar_type(), " and ", y.sizes(), " ", y.scalar_type());
  const auto g = grad.contiguous(), out = y.contiguous();
  auto dx = torch::empty_like(out);
#if TIPS_HAVE_CPU_KERNELS
  const int64_t n = out.size(-1), rows = n == 0 ? 0 : out.numel() / n;
  const bool bf16 = out.scalar_type() == torch::kBFloat16;
  detail::parallel_for(0, rows, detail::grain_rows(n, kGrainValues), [&](int64_t begin, int64_t end) {
    avx512::softmax_backward_rows(g.data_ptr(), out.data_ptr(), bf16, n, static_cast<float>(scale), begin, end,
                                  dx.data_ptr());
  });
#endif
  return dx;
}

}  // namespace tips::kernels
