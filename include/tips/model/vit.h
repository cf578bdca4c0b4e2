// tips/model/vit.h - the TIPS image encoder: a DINOv2-style ViT with two CLS tokens
// (the second stored as `register_tokens`), mask-token substitution and a resizable position table.
// Submodule and parameter names equal the official checkpoint keys (shared/specs/tips-checkpoint-format.md).
//
// Legend: B batch, N patches (grid h*w), D width, G = cfg.pos_grid.
// Example:
//   VisionTransformer vit(vision_preset("B"));
//   VisionOutput out = vit->forward(images);            // images (B, 3, H, W) in [0, 1]
//   auto emb = torch::nn::functional::normalize(out.cls1, F::NormalizeFuncOptions().dim(-1));
#pragma once
#include <torch/torch.h>

#include <vector>

#include "tips/model/config.h"

namespace tips::model {

struct VisionOutput {
  torch::Tensor cls1;           // (B, D) first CLS after the final norm (alt-text / global)
  torch::Tensor cls2;           // (B, D) second CLS after the final norm (synthetic captions)
  torch::Tensor patches;        // (B, N, D) patch tokens after the final norm, row-major grid
  torch::Tensor value_patches;  // (B, N, D) MaskCLIP "values" patches (only when requested), else undefined
};

class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(const VisionConfig& cfg);
  void reset() override;  // (re)creates and initialises every parameter (Cloneable)

  // images: (B, 3, H, W) float in [0, 1], H and W multiples of patch_size.
  // patch_mask: undefined, or bool (B, N) with true = replace that patch embedding by mask_token.
  // value_trick: also return value_patches (last block's attention replaced by proj(v)).
  VisionOutput forward(const torch::Tensor& images, const torch::Tensor& patch_mask = {}, bool value_trick = false);

  // One batched forward per distinct crop size (never a per-sample loop): crops[i] is (B_i, 3, H_i, W_i),
  // masks[i] is undefined or (B_i, N_i). Returns outputs in the same order.
  std::vector<VisionOutput> forward_multi(const std::vector<torch::Tensor>& crops,
                                          const std::vector<torch::Tensor>& masks = {});

  const VisionConfig& config() const { return cfg_; }
  // Index of the block a parameter name belongs to (for layer-wise lr decay): -1 embeddings, depth = final norm.
  int64_t layer_id(const std::string& param_name) const;

  // Registered parameters and submodules follow (public, as in LibTorch; names are checkpoint keys):
  // cls_token, pos_embed, register_tokens, mask_token, patch_embed.proj, blocks.{i}.*, norm.

 private:
  VisionConfig cfg_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace tips::model
