// tips/model/block.h - the pre-norm transformer blocks of both towers.
//   Vision (DINOv2 keys blocks.{i}.*): x += ls1 * attn(norm1(x)); x += ls2 * mlp(norm2(x)), with per-sample
//   stochastic depth on each residual branch in training.
//   Text (CLIP keys transformer.resblocks.{i}.*): x += attn(ln_1(x), pad); x += mlp(ln_2(x), keep).
// Parameter initialisation is NOT done here: the towers initialise every parameter with explicit generators.
//
// Legend: B batch, N tokens, D width.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include "tips/model/attention.h"
#include "tips/model/config.h"
#include "tips/model/layer_scale.h"
#include "tips/model/mlp.h"

namespace tips::model {

struct BlockConfig {
  int64_t dim = 384;              // token width D
  int64_t num_heads = 6;          // must divide dim
  int64_t mlp_hidden = 1536;      // GELU: 4*D (So400m 4304); SwiGLU: H
  FfnKind ffn = FfnKind::kGelu;   // fc1/fc2 (gelu) or w12/w3 (swiglu)
  double norm_eps = 1e-6;         // image-tower LayerNorm eps (checkpoint spec)
  double layerscale_init = 1e-5;  // LayerScale gamma init
  double drop_path = 0.0;         // probability of dropping each residual branch per sample (training only)
};

class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(const BlockConfig& cfg);
  void reset() override;

  // x: (B, N, D) -> (B, N, D). In training with drop_path > 0, each sample's branch is dropped with
  // probability drop_path (kept ones scaled by 1/(1-drop_path)); the Bernoulli draws use `gen` (a CPU
  // generator; required then). In eval, or with drop_path == 0, `gen` is not touched.
  torch::Tensor forward(const torch::Tensor& x, at::Generator* gen = nullptr);
  // Same block with the attention replaced by attn.forward_values (MaskCLIP value trick); no drop path.
  torch::Tensor forward_values(const torch::Tensor& x);
  // What each token of x writes into the first CLS through this block's attention branch: ls1 *
  // attn.cls_contributions(norm1(x)), (B, N, D) in its dtype; no drop path.
  torch::Tensor cls_attribution(const torch::Tensor& x);

  const BlockConfig& config() const { return cfg_; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};              // set when cfg.ffn == kGelu (registered as "mlp")
  SwiGluMlp swiglu{nullptr};     // set when cfg.ffn == kSwiGlu (registered as "mlp")
  LayerScale ls1{nullptr}, ls2{nullptr};

 private:
  torch::Tensor ffn(const torch::Tensor& x);
  torch::Tensor drop_path(const torch::Tensor& branch, at::Generator* gen);
  // x + drop_path(ls(branch)): one fused pass when no sample can be dropped (kernels/scaled_residual.h).
  torch::Tensor residual(const torch::Tensor& x, LayerScale ls, const torch::Tensor& branch, at::Generator* gen);
  BlockConfig cfg_;
};
TORCH_MODULE(Block);

struct TextBlockConfig {
  int64_t dim = 384;          // width D
  int64_t num_heads = 6;      // must divide dim
  int64_t mlp_hidden = 1536;  // ReLU MLP width M
  double norm_eps = 1e-5;     // text-tower LayerNorm eps (checkpoint spec)
};

class TextBlockImpl : public torch::nn::Cloneable<TextBlockImpl> {
 public:
  explicit TextBlockImpl(const TextBlockConfig& cfg);
  void reset() override;

  // x: (B, L, D); pad: undefined or bool (B, L), true = padding token. Returns (B, L, D).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad = {});

  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  TextAttention attn{nullptr};
  TextMlp mlp{nullptr};

 private:
  TextBlockConfig cfg_;
};
TORCH_MODULE(TextBlock);

}  // namespace tips::model
