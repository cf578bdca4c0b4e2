#include "init_impl.h"

#include <cmath>

namespace tips::model::init {
namespace {

void copy_in(torch::Tensor& param, const torch::Tensor& values) {
  torch::NoGradGuard no_grad;
  param.copy_(values);
}

}  // namespace

void trunc_normal(torch::Tensor& param, double std, at::Generator& gen) {
  constexpr double kLo = -2.0, kHi = 2.0;
  const auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  const double l = cdf(kLo / std), u = cdf(kHi / std);
  auto v = torch::empty(param.sizes(), torch::kFloat);
  v.uniform_(2 * l - 1, 2 * u - 1, gen);
  v.erfinv_().mul_(std * std::sqrt(2.0)).clamp_(kLo, kHi);
  copy_in(param, v);
}

void normal(torch::Tensor& param, double std, at::Generator& gen) {
  auto v = torch::empty(param.sizes(), torch::kFloat);
  v.normal_(0.0, std, gen);
  copy_in(param, v);
}

void uniform(torch::Tensor& param, double bound, at::Generator& gen) {
  auto v = torch::empty(param.sizes(), torch::kFloat);
  v.uniform_(-bound, bound, gen);
  copy_in(param, v);
}

void linear(LinearImpl& layer, double std, at::Generator& gen) {
  trunc_normal(layer.weight, std, gen);
  if (layer.bias.defined()) {
    torch::NoGradGuard no_grad;
    layer.bias.zero_();
  }
}

}  // namespace tips::model::init
