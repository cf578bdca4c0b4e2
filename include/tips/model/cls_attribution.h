// tips/model/cls_attribution.h - the `attribution` patch readout: what each patch writes into the first CLS.
//
// The first CLS is the image embedding that the contrastive loss puts in the text's space. Its final state is its
// own start plus, block after block, the attention branch's terms from every token (Block::cls_attribution) and
// the MLP branch's. A patch's attribution is the sum over blocks of its attention terms, mapped into the output
// space by the final LayerNorm linearised at the CLS's own pre-norm state: the part of the CLS embedding that
// comes from that patch, to first order. Scored against the class prompts like any other readout, it asks whether
// the text-aligned CLS gathered each item's class from that item's patches (Gandelsman et al., "Interpreting
// CLIP's image representation via text-based decomposition", ICLR 2024), where the value readout asks whether the
// patch's own state is in the text's space. The biases are left out: they are the same for every patch.
#pragma once
#include <torch/torch.h>

namespace tips::model {

// The final LayerNorm's Jacobian at `at` applied to `directions`: d/de norm(at + e * c) at e = 0, i.e.
// weight * (c - mean(c) - x_hat * <x_hat, c - mean(c)> / D) / sigma with x_hat = (at - mean) / sigma and
// sigma = sqrt(var(at) + eps). at: (B, D); directions: (B, N, D) -> (B, N, D), float32 (float64 for a float64 `at`).
torch::Tensor linearised_layer_norm(const torch::nn::LayerNorm& norm, const torch::Tensor& at,
                                    const torch::Tensor& directions);

}  // namespace tips::model
