// One AdamW step over all parameter tensors: a list of (tensor, element range) pieces, one parallel loop over it.
#include "tips/kernels/adamw.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "adamw_rows.h"
#include "parallel_impl.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

template <typename T>
avx512::AdamWCoefficients<T> coefficients(const AdamWSlot& s, const AdamWBetas& b, double grad_scale) {
  const double bc1 = 1.0 - std::pow(b.beta1, static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(b.beta2, static_cast<double>(s.step));
  avx512::AdamWCoefficients<T> k;
  k.decays = s.weight_decay != 0;
  k.decay = static_cast<T>(1.0 - s.lr * s.weight_decay);
  k.b1 = static_cast<T>(b.beta1), k.b2 = static_cast<T>(b.beta2);
  k.one_minus_b1 = static_cast<T>(1.0 - b.beta1), k.one_minus_b2 = static_cast<T>(1.0 - b.beta2);
  k.sqrt_bc2 = static_cast<T>(std::sqrt(bc2));
  k.eps = static_cast<T>(b.eps);
  k.neg_step_size = static_cast<T>(-(s.lr / bc1));
  k.scales = grad_scale != 1.0;
  k.grad_scale = static_cast<T>(grad_scale);
  return k;
}

// The element-wise update, in torch::optim::AdamW's order of operations (each line one of its ATen ops). The float64
// path (tests, float64 models); float32 runs the AVX-512 copy of this loop (adamw_avx512.cpp).
template <typename T>
void update_values(T* p, const T* g, T* m, T* v, const avx512::AdamWCoefficients<T>& k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = k.scales ? g[i] * k.grad_scale : g[i];
    T pi = k.decays ? p[i] * k.decay : p[i];
    const T mi = m[i] * k.b1 + k.one_minus_b1 * gi;
    const T vi = v[i] * k.b2 + k.one_minus_b2 * gi * gi;
    const T denom = std::sqrt(vi) / k.sqrt_bc2 + k.eps;
    pi = pi + k.neg_step_size * (mi / denom);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}

template <typename T>
void update_range(const AdamWSlot& slot, const avx512::AdamWCoefficients<T>& k, int64_t begin, int64_t end) {
  T* p = slot.param.data_ptr<T>() + begin;
  const T* g = slot.grad.data_ptr<T>() + begin;
  T* m = slot.exp_avg.data_ptr<T>() + begin;
  T* v = slot.exp_avg_sq.data_ptr<T>() + begin;
#if TIPS_HAVE_CPU_KERNELS
  if constexpr (std::is_same_v<T, float>) {
    avx512::adamw_range(p, g, m, v, k, end - begin);
    return;
  }
#endif
  update_values<T>(p, g, m, v, k, end - begin);
}

template <typename T>
void run_pieces(const std::vector<AdamWSlot>& slots, const AdamWBetas& betas, double grad_scale,
                const std::vector<detail::TensorPiece>& pieces) {
  std::vector<avx512::AdamWCoefficients<T>> scalars;
  scalars.reserve(slots.size());
  for (const auto& s : slots) scalars.push_back(coefficients<T>(s, betas, grad_scale));
  detail::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const detail::TensorPiece& piece = pieces[static_cast<size_t>(i)];
      update_range<T>(slots[piece.tensor], scalars[piece.tensor], piece.begin, piece.end);
    }
  });
}

bool slot_applies(const AdamWSlot& s, torch::ScalarType dtype) {
  for (const torch::Tensor* t : {&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq})
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != dtype || !t->is_contiguous() ||
        t->sizes() != s.param.sizes())
      return false;
  return true;
}

}  // namespace

bool fused_adamw_applies(const std::vector<AdamWSlot>& slots) {
  if (!fused_cpu_kernels() || slots.empty() || !slots.front().param.defined()) return false;
  const torch::ScalarType dtype = slots.front().param.scalar_type();
  if (dtype != torch::kFloat && dtype != torch::kDouble) return false;
  for (const auto& s : slots)
    if (!slot_applies(s, dtype)) return false;
  return true;
}

void fused_adamw(const std::vector<AdamWSlot>& slots, const AdamWBetas& betas, double grad_scale) {
  TORCH_CHECK(fused_adamw_applies(slots), "fused_adamw: CPU float32/float64 contiguous tensors of one dtype only");
  std::vector<int64_t> numels;
  for (const auto& s : slots) numels.push_back(s.param.numel());
  const auto pieces = detail::tensor_pieces(numels);
  if (slots.front().param.scalar_type() == torch::kDouble)
    run_pieces<double>(slots, betas, grad_scale, pieces);
  else
    run_pieces<float>(slots, betas, grad_scale, pieces);
}

}  // namespace tips::kernels
