#include "tips/kernels/gelu.h"

#include <c10/util/BFloat16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bf16_data_impl.h"
#include "gelu_rows.h"
#include "parallel_impl.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

constexpr int64_t kGrain = int64_t{1} << 15;  // values per parallel chunk

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// The bf16 value nearest to d (ties to even). Rounding to float first and then to bf16 could round twice in the
// same direction when the float lands exactly halfway between two bf16 values; then d itself decides the side.
float nearest_bf16(double d) {
  const float f = static_cast<float>(d);
  const uint32_t u = float_bits(f);
  if ((u & 0xFFFFu) == 0x8000u && static_cast<double>(f) != d && std::isfinite(f)) {
    const bool away_from_zero = std::fabs(d) > std::fabs(static_cast<double>(f));
    return bits_float(away_from_zero ? (u + 0x8000u) : (u - 0x8000u));
  }
  return static_cast<float>(c10::BFloat16(f));  // round to nearest even; NaN stays NaN
}

struct GeluTables {
  std::vector<float> value;  // gelu(x), a bf16 value stored as float
  std::vector<float> slope;  // gelu'(x) = Phi(x) + x phi(x)
};

// gelu(x) = x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: erfc keeps the negative tail's digits, where 1 + erf
// cancels. Built once, in double, for all 65536 bf16 bit patterns (a few milliseconds).
const GeluTables& tables() {
  static const GeluTables built = [] {
    GeluTables t{std::vector<float>(65536), std::vector<float>(65536)};
    const double inv_sqrt2 = 1.0 / std::sqrt(2.0), inv_sqrt_2pi = 1.0 / std::sqrt(2.0 * M_PI);
    for (uint32_t bits = 0; bits < 65536; ++bits) {
      const double x = bits_float(bits << 16);
      const double cdf = 0.5 * std::erfc(-x * inv_sqrt2);
      t.value[bits] = nearest_bf16(x * cdf);
      t.slope[bits] = static_cast<float>(cdf + x * std::exp(-0.5 * x * x) * inv_sqrt_2pi);
    }
    return t;
  }();
  return built;
}

struct TableGelu : torch::autograd::Function<TableGelu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return gelu_forward_bf16(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto& g = grads[0];
    if (g.scalar_type() == torch::kBFloat16 && g.device().is_cpu()) return {gelu_backward_bf16(g, x)};
    return {at::gelu_backward(g, x.to(g.scalar_type())).to(x.scalar_type())};
  }
};

}  // namespace

bool fused_gelu_applies(const torch::Tensor& x) {
  return fused_cpu_kernels() && x.device().is_cpu() && x.scalar_type() == torch::kBFloat16;
}

torch::Tensor gelu(const torch::Tensor& x) { return fused_gelu_applies(x) ? TableGelu::apply(x) : torch::gelu(x); }

torch::Tensor gelu_forward_bf16(const torch::Tensor& x) {
  TORCH_CHECK(fused_gelu_applies(x), "gelu_forward_bf16: needs a bf16 CPU tensor and the fused kernels, got ",
              x.scalar_type(), " on ", x.device());
  const auto in = x.contiguous();
  auto out = torch::empty_like(in);
#if TIPS_HAVE_CPU_KERNELS
  const float* table = tables().value.data();
  uint16_t* dst = detail::mutable_bf16_data(out);
  detail::parallel_for(0, in.numel(), kGrain, [&](int64_t begin, int64_t end) {
    avx512::gelu_forward_range(detail::bf16_data(in), table, begin, end, dst);
  });
#endif
  return out;
}

torch::Tensor gelu_backward_bf16(const torch::Tensor& grad, const torch::Tensor& x) {
  TORCH_CHECK(fused_gelu_applies(x) && grad.scalar_type() == torch::kBFloat16 && grad.device().is_cpu() &&
                  grad.sizes() == x.sizes(),
              "gelu_backward_bf16: needs bf16 CPU grad and input of one shape, got ", grad.sizes(), " ",
              grad.scalar_type(), " and ", x.sizes(), " ", x.scalar_type());
  const auto g = grad.contiguous(), in = x.contiguous();
  auto out = torch::empty_like(in);
#if TIPS_HAVE_CPU_KERNELS
  const float* table = tables().slope.data();
  uint16_t* dst = detail::mutable_bf16_data(out);
  detail::parallel_for(0, in.numel(), kGrain, [&](int64_t begin, int64_t end) {
    avx512::gelu_backward_range(detail::bf16_data(g), detail::bf16_data(in), table, begin, end, dst);
  });
#endif
  return out;
}

}  // namespace tips::kernels
