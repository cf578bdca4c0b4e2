// tips/model/layer_scale.h - LayerScale: a learned per-channel scale of a residual branch (CaiT / DINOv2).
// A submodule (not a bare parameter) so that its key is `blocks.{i}.ls1.gamma`, as in the official checkpoints.
//
// Legend: D width.
#pragma once
#include <torch/torch.h>

namespace tips::model {

class LayerScaleImpl : public torch::nn::Cloneable<LayerScaleImpl> {
 public:
  // gamma (D,) is filled with `init_value` (TIPS training value unknown; DINOv2 uses 1e-5).
  LayerScaleImpl(int64_t dim, double init_value);
  void reset() override;

  // x: (..., D) -> x * gamma, same shape and dtype.
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor gamma;  // (D,)

 private:
  int64_t dim_;
  double init_value_;
};
TORCH_MODULE(LayerScale);

}  // namespace tips::model
