// tips/loss/patch_text.h - multiple-instance patch-text contrastive loss, as pure functions (no collectives inside).
//
// NOT part of the TIPSv2 recipe: an opt-in extension (loss.patch_text, weight 0 by default) for models too small or
// too briefly trained for patch-text alignment to emerge from iBOT++ alone, e.g. the embedded demo (docs/results.md,
// "Patch-text alignment at demo scale"). The image-text similarity is the best match over a set of patch tokens:
//   s_ij = max_n cos(p_in, t_j)
// (multiple-instance learning; FILIP's image-to-text direction), and the loss is the symmetric InfoNCE over s / tau.
// Only the best-matching patch of each (image, text) pair gets a gradient: for the matching caption it is pulled
// towards the text, for the other captions it is pushed away. Which patches compete is the trainer's choice (the
// local crops' patches by default: a crop seen alone cannot copy the image's class into its background patches).
//
// Distributed use, as in contrastive.h: each rank computes its rows s = patch_text_similarity(patches, txt_all)
// (B, G), all-gathers them with gradient into s_all (G, G), and calls similarity_infonce(s, s_all, offset, tau);
// the mean of the per-rank losses equals the full-batch loss. Gathering the (B, G) similarities instead of the
// (B, N, D) patches keeps the traffic independent of the patch count.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/loss/contrastive.h"

namespace tips::loss {

// s_ij = max_n cos(patches_in, txt_all_j).
//   patches: (B, N, D) this rank's candidate patch tokens, N per image; txt_all: (G, D) every rank's texts.
// Returns (B, G) in float32 (float64 for float64 inputs); gradients flow to both inputs.
torch::Tensor patch_text_similarity(const torch::Tensor& patches, const torch::Tensor& txt_all);

// Symmetric InfoNCE on precomputed similarities.
//   sim:     (B, G) this rank's image rows; sim_all: (G, G) every rank's rows (rows [offset, offset + B) are sim)
//   temperature: () positive tensor tau; logits = sim / tau
// image_to_text: mean over this rank's images of CE(sim row / tau, offset + i);
// text_to_image: mean over this rank's texts j of CE(column offset + j of sim_all / tau, offset + j).
ContrastiveTerms similarity_infonce(const torch::Tensor& sim, const torch::Tensor& sim_all, int64_t offset,
                                    const torch::Tensor& temperature);

// Single-process form: the whole batch on one rank.
inline ContrastiveTerms patch_text_infonce(const torch::Tensor& patches, const torch::Tensor& txt,
                                           const torch::Tensor& temperature) {
  const auto sim = patch_text_similarity(patches, txt);
  return similarity_infonce(sim, sim, /*offset=*/0, temperature);
}

}  // namespace tips::loss
