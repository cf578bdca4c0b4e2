// tips/model/vit.h - the TIPS image encoder: a DINOv2-style ViT with two CLS tokens
// (the second stored as `register_tokens`), mask-token substitution and a resizable position table.
// Submodule and parameter names equal the official checkpoint keys (docs/checkpoint_format.md).
// Not here: projection heads (heads.h), losses, the teacher.
//
// Legend: B batch, N patches (grid h*w), D width, G = cfg.pos_grid, p = cfg.patch_size.
// Example:
//   VisionTransformer vit(vision_preset("B"), /*seed=*/42);
//   VisionOutput out = vit->forward(images);            // images (B, 3, H, W) in [0, 1]
//   auto emb = torch::nn::functional::normalize(out.cls1, F::NormalizeFuncOptions().dim(-1));
//
// Randomness: parameters are initialised in reset() from rng::generator(rng::derive(seed, 0)), so two models
// built with the same seed are identical (and clone() is exact). Stochastic depth draws from a CPU generator
// that starts as rng::generator(rng::derive(seed, 1)); a trainer that needs bit-exact resume sets its own
// per-step generator with set_drop_path_generator().
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "tips/model/block.h"
#include "tips/model/config.h"

namespace tips::model {

struct VisionOutput {
  torch::Tensor cls1;           // (B, D) first CLS after the final norm (alt-text / global)
  torch::Tensor cls2;           // (B, D) second CLS after the final norm (synthetic captions)
  torch::Tensor patches;        // (B, N, D) patch tokens after the final norm, row-major grid
  torch::Tensor value_patches;  // (B, N, D) MaskCLIP "values" patches (only when requested), else undefined
  torch::Tensor penultimate_patches;  // (B, N, D) patch tokens entering the last block, through the final norm
                                      // (only when requested), else undefined
  torch::Tensor attribution_patches;  // (B, N, D) what each patch writes into cls1 (model/cls_attribution.h; only
                                      // when requested), else undefined
};

// Conv patchifier, key patch_embed.proj.{weight,bias} (D, 3, p, p) / (D,).
class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  PatchEmbedImpl(int64_t patch_size, int64_t dim);
  void reset() override;
  // images (B, 3, H, W), H and W multiples of p -> (B, (H/p)*(W/p), D), row-major over the grid.
  torch::Tensor forward(const torch::Tensor& images);

  torch::nn::Conv2d proj{nullptr};

 private:
  int64_t patch_size_, dim_;
};
TORCH_MODULE(PatchEmbed);

// Crops through the patch projection, before any masking: (B, h*w, D) rows on an h x w grid. One embedding can feed
// several forwards of the same images (the unmasked and the masked global crops): their gradients then meet before
// the projection, whose backward runs once.
struct PatchTokens {
  torch::Tensor rows;  // (B, h*w, D)
  int64_t grid_h = 0, grid_w = 0;
};

// Resizes a stored position table (1, 1 + G*G, D) to a grid of h x w patches: the CLS row is kept, the patch
// part is resized with bilinear interpolation, antialias on, align_corners off (half/bf16 tables are resized
// in float32; the result has the table's dtype). Returns (1, 1 + h*w, D); the table itself when (h, w) == (G, G).
torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, int64_t h, int64_t w);

class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(const VisionConfig& cfg, uint64_t seed = 0);
  void reset() override;  // (re)creates and initialises every parameter (Cloneable)

  // images: (B, 3, H, W) float in [0, 1], H and W multiples of patch_size (H != W allowed).
  // patch_mask: undefined, or bool (B, N) with true = replace that patch embedding by mask_token.
  // dense_readouts: also return value_patches (the last block's attention replaced by proj(v)),
  // penultimate_patches and attribution_patches (the evaluation's alternative patch readouts).
  VisionOutput forward(const torch::Tensor& images, const torch::Tensor& patch_mask = {}, bool dense_readouts = false);
  // The same from the crops' patch embeddings (embed()): forward(images, m) == forward(embed(images), m).
  VisionOutput forward(const PatchTokens& patches, const torch::Tensor& patch_mask = {}, bool dense_readouts = false);

  // images (B, 3, H, W) -> their patch embeddings on the (H/p) x (W/p) grid.
  PatchTokens embed(const torch::Tensor& images);

  // One batched forward per distinct grid (never a per-sample loop): crops[i] is (B_i, 3, H_i, W_i) images or
  // their embed(), masks[i] is undefined or (B_i, N_i). Crops of equal grids are concatenated into one forward.
  // Returns outputs in the same order as `crops`.
  std::vector<VisionOutput> forward_multi(const std::vector<torch::Tensor>& crops,
                                          const std::vector<torch::Tensor>& masks = {});
  std::vector<VisionOutput> forward_multi(const std::vector<PatchTokens>& crops,
                                          const std::vector<torch::Tensor>& masks = {});

  // Tokens before the blocks: [CLS1 + pos0, CLS2, patches + pos] (B, 2 + N, D). Exposed for tests/probes.
  torch::Tensor prepare_tokens(const torch::Tensor& images, const torch::Tensor& patch_mask = {});
  torch::Tensor prepare_tokens(const PatchTokens& patches, const torch::Tensor& patch_mask = {});

  const VisionConfig& config() const { return cfg_; }
  // Index of the block a parameter name belongs to (for layer-wise lr decay): -1 embeddings
  // (cls_token, pos_embed, register_tokens, mask_token, patch_embed.*), i for blocks.i.*, depth for norm.*.
  // Throws std::invalid_argument for a name that is not a parameter of this model.
  int64_t layer_id(const std::string& param_name) const;

  // Activation checkpointing of every block in training with gradients (model/activation_checkpoint.h):
  // less memory for about one more block forward per block in backward. Off by default.
  void set_activation_checkpointing(bool on) { checkpoint_blocks_ = on; }

  // CPU generator for the stochastic-depth draws (see the file comment).
  void set_drop_path_generator(at::Generator gen) { drop_gen_ = std::move(gen); }
  at::Generator& drop_path_generator() { return drop_gen_; }

  // Registered parameters and submodules (public, as in LibTorch; names are checkpoint keys).
  torch::Tensor cls_token;        // (1, 1, D)
  torch::Tensor pos_embed;        // (1, 1 + G*G, D)
  torch::Tensor register_tokens;  // (1, 1, D): the second CLS
  torch::Tensor mask_token;       // (1, D)
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};  // depth x Block; index with block(i) (clone() replaces the elements)
  torch::nn::LayerNorm norm{nullptr};

  BlockImpl& block(int64_t i) { return *blocks->ptr<BlockImpl>(i); }

 private:
  void init_parameters();
  VisionConfig cfg_;
  uint64_t seed_;
  at::Generator drop_gen_;
  bool checkpoint_blocks_ = false;
};
TORCH_MODULE(VisionTransformer);

}  // namespace tips::model
