#include "tips/kernels/scaled_exp.h"

#include "parallel_impl.h"
#include "scaled_exp_rows.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {

bool fused_scaled_exp_applies(const torch::Tensor& x) {
  return fused_cpu_kernels() && x.device().is_cpu() && !(x.requires_grad() && torch::GradMode::is_enabled()) &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16);
}

torch::Tensor scaled_exp(const torch::Tensor& x, double scale) {
  TORCH_CHECK(fused_scaled_exp_applies(x), "scaled_exp: operand not supported: ", x.sizes(), " ", x.scalar_type(),
              " on ", x.device(), x.requires_grad() ? " (requires grad)" : "");
  const auto in = x.contiguous();
  auto out = torch::empty(in.sizes(), in.options().dtype(torch::kFloat));
#if TIPS_HAVE_CPU_KERNELS
  const bool bf16 = in.scalar_type() == torch::kBFloat16;
  // Chunks of at least 64 Ki values; each ends in a masked tail of under 16 lanes at most.
  detail::parallel_for(0, in.numel(), int64_t{1} << 16, [&](int64_t begin, int64_t end) {
    avx512::scaled_exp_range(in.data_ptr(), bf16, static_cast<float>(scale), begin, end, out.data_ptr<float>());
  });
#endif
  return out;
}

}  // namespace tips::kernels
