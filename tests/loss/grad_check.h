// Central finite differences in float64: the second source of truth for the losses' gradients.
#pragma once
#include <torch/torch.h>

#include <functional>

namespace tips::testing {

// Max |autograd d f / d x - (f(x + h e_i) - f(x - h e_i)) / 2h| over every element i. f returns a scalar.
inline double max_grad_error(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x0,
                             double h = 1e-6) {
  auto x = x0.to(torch::kDouble).detach().clone().requires_grad_(true);
  f(x).backward();
  const auto analytic = x.grad().clone();
  auto flat = x.detach().clone().reshape(-1);
  double worst = 0.0;
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double v = flat[i].item<double>();
    flat[i] = v + h;
    const double up = f(flat.view(x.sizes())).item<double>();
    flat[i] = v - h;
    const double down = f(flat.view(x.sizes())).item<double>();
    flat[i] = v;
    worst = std::max(worst, std::abs((up - down) / (2 * h) - analytic.reshape(-1)[i].item<double>()));
  }
  return worst;
}

}  // namespace tips::testing
