#include "tips/model/cls_attribution.h"

namespace tips::model {

torch::Tensor linearised_layer_norm(const torch::nn::LayerNorm& norm, const torch::Tensor& at,
                                    const torch::Tensor& directions) {
  TORCH_CHECK(
      at.dim() == 2 && directions.dim() == 3 && directions.size(0) == at.size(0) && directions.size(2) == at.size(1),
      "linearised_layer_norm: at must be (B, D) and directions (B, N, D), got ", at.sizes(), " and ",
      directions.sizes());
  const auto dtype = at.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto x = at.to(dtype);
  const auto centred = x - x.mean(-1, /*keepdim=*/true);
  const auto sigma = (centred.pow(2).mean(-1, /*keepdim=*/true) + norm->options.eps()).sqrt();  // (B, 1)
  const auto x_hat = (centred / sigma).unsqueeze(1);                                            // (B, 1, D)
  const auto c = directions.to(dtype);
  const auto c_centred = c - c.mean(-1, /*keepdim=*/true);
  const auto along = (c_centred * x_hat).mean(-1, /*keepdim=*/true);  // <x_hat, c - mean(c)> / D, (B, N, 1)
  return norm->weight.to(dtype) * (c_centred - x_hat * along) / sigma.unsqueeze(1);
}

}  // namespace tips::model
