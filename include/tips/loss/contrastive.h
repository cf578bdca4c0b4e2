// tips/loss/contrastive.h - image-text contrastive losses as pure functions (no collectives inside).
// Distributed use: all-gather the embeddings (with gradient) in dist/, then call these with this rank's
// rows and their offset in the gathered batch; the mean of the per-rank losses equals the full-batch loss.
// Not here: the learnable temperature/bias parameters (the trainer owns them) and the gather itself.
//
// Legend: B this rank's batch, G global batch (all ranks, G >= B), D embedding width.
// Embeddings need not be normalised: every function L2-normalises them (cosine similarity) in float32.
// Example (single process):
//   auto terms = loss::softmax_infonce(img_cls1, txt_alt, log_temp.exp());
//   terms.loss.backward();
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace tips::loss {

struct ContrastiveTerms {
  torch::Tensor loss;           // () 0.5 * (image_to_text + text_to_image)
  torch::Tensor image_to_text;  // () mean over this rank's images of CE(image -> all texts)
  torch::Tensor text_to_image;  // () mean over this rank's texts of CE(text -> all images)
};

// Symmetric softmax InfoNCE (CLIP / TIPS) with in-batch negatives.
//   img, txt:         (B, D) this rank's image and text embeddings; row i of both is one pair
//   img_all, txt_all: (G, D) the same rows gathered over ranks; rows [offset, offset + B) are this rank's
//   temperature:      () positive tensor tau (learnable; logits = cos / tau; NOT clamped - TIPS ends at ~0.004)
// Returns float32 (float64 for float64 inputs) scalars. Gradients flow to every input, including tau.
ContrastiveTerms softmax_infonce(const torch::Tensor& img, const torch::Tensor& txt, const torch::Tensor& img_all,
                                 const torch::Tensor& txt_all, int64_t offset, const torch::Tensor& temperature);

// Single-process form: img, txt (B, D) are the whole batch.
inline ContrastiveTerms softmax_infonce(const torch::Tensor& img, const torch::Tensor& txt,
                                        const torch::Tensor& temperature) {
  return softmax_infonce(img, txt, img, txt, /*offset=*/0, temperature);
}

// SigLIP pairwise sigmoid loss: -1/B * sum_{i in rank, j in all} log sigmoid(z_ij * (cos_ij / tau + bias)),
// z_ij = +1 for the matching pair (j == offset + i), -1 otherwise.
//   img: (B, D) this rank's images; txt_all: (G, D) all texts; temperature, bias: () tensors.
// The mean over ranks equals the full-batch loss (each image already sees every text).
torch::Tensor sigmoid_loss(const torch::Tensor& img, const torch::Tensor& txt_all, int64_t offset,
                           const torch::Tensor& temperature, const torch::Tensor& bias);

}  // namespace tips::loss
