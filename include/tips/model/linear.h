// tips/model/linear.h - the affine layer of every tower and head: y = x W^T + b through ATen's linear.
//
// Legend: I input width, O output width.
#pragma once
#include <torch/torch.h>

namespace tips::model {

// Keys weight (O, I) and bias (O), as torch::nn::Linear, whose checkpoints it reads and writes unchanged.
// Why not torch::nn::Linear: LibTorch 1.13's C++ frontend computes any input that is not 2-d as a matmul followed
// by an in-place bias add (torch/nn/functional/linear.h). For the towers' (B, N, D) activations that is a second
// pass over every output, and under bf16 autocast a bf16 product rounded before the bias is added. ATen's
// linear, which Python's nn.Linear calls, runs a contiguous (B, N, D) input as one addmm over B*N rows with the
// bias fused.
class LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias = true);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // x: (..., I) -> (..., O).
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;  // bias is undefined when built without one

 private:
  int64_t in_features_, out_features_;
  bool with_bias_;
};
TORCH_MODULE(Linear);

}  // namespace tips::model
