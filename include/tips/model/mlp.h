// tips/model/mlp.h - the feed-forward branches: GELU MLP (fc1/fc2), SwiGLU MLP (w12/w3, g/14) of the image
// tower, and the text tower's ReLU MLP (c_fc/c_proj) that zeroes padded positions.
//
// Legend: B batch, N tokens, D width, M hidden width (SwiGLU: H, w12 is 2H wide).
#pragma once
#include <torch/torch.h>

#include "tips/model/linear.h"

namespace tips::model {

// fc2(gelu_exact(fc1(x))). Keys mlp.fc1 (M, D), mlp.fc2 (D, M). x: (B, N, D) -> (B, N, D).
class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  MlpImpl(int64_t dim, int64_t hidden);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  Linear fc1{nullptr}, fc2{nullptr};

 private:
  int64_t dim_, hidden_;
};
TORCH_MODULE(Mlp);

// w3(silu(a) * b) with [a | b] = w12(x). Keys mlp.w12 (2H, D), mlp.w3 (D, H). x: (B, N, D) -> (B, N, D).
class SwiGluMlpImpl : public torch::nn::Cloneable<SwiGluMlpImpl> {
 public:
  SwiGluMlpImpl(int64_t dim, int64_t hidden);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  Linear w12{nullptr}, w3{nullptr};

 private:
  int64_t dim_, hidden_;
};
TORCH_MODULE(SwiGluMlp);

// keep * c_proj(keep * relu(c_fc(x))). Keys mlp.c_fc (M, D), mlp.c_proj (D, M).
// x: (B, L, D); keep: undefined (keep all) or (B, L) float/bool, 1 = real token. Returns (B, L, D).
class TextMlpImpl : public torch::nn::Cloneable<TextMlpImpl> {
 public:
  TextMlpImpl(int64_t dim, int64_t hidden);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep = {});

  Linear c_fc{nullptr}, c_proj{nullptr};

 private:
  int64_t dim_, hidden_;
};
TORCH_MODULE(TextMlp);

}  // namespace tips::model
