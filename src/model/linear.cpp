#include "tips/model/linear.h"

#include <cmath>

namespace tips::model {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features), with_bias_(with_bias) {
  TORCH_CHECK(in_features >= 1 && out_features >= 1, "Linear: bad sizes in=", in_features, " out=", out_features);
  reset();
}

// torch::nn::Linear's default draw, U(+-1/sqrt(I)) for both (kaiming_uniform with a = sqrt 5), from the global
// generator as it does; the towers and heads then redraw from their own generators (model/init).
void LinearImpl::reset() {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
  weight = register_parameter("weight", torch::empty({out_features_, in_features_}).uniform_(-bound, bound));
  bias =
      with_bias_ ? register_parameter("bias", torch::empty({out_features_}).uniform_(-bound, bound)) : torch::Tensor();
}

void LinearImpl::pretty_print(std::ostream& stream) const {
  stream << "tips::model::Linear(in_features=" << in_features_ << ", out_features=" << out_features_
         << ", bias=" << (with_bias_ ? "true" : "false") << ")";
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

}  // namespace tips::model
