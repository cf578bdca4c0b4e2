// tips/model/gelu.h - the exact (erf) GELU as a parameterless module, for the heads' Sequential MLPs.
// Same keys (none) and results as torch::nn::GELU up to rounding; it calls kernels::gelu, which looks bf16
// activations up in a table on CPU (kernels/gelu.h) and is torch::gelu everywhere else.
#pragma once
#include <torch/torch.h>

namespace tips::model {

class GeluImpl : public torch::nn::Cloneable<GeluImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override { stream << "tips::model::Gelu()"; }
  torch::Tensor forward(const torch::Tensor& x);  // (...) -> (...)
};
TORCH_MODULE(Gelu);

}  // namespace tips::model
