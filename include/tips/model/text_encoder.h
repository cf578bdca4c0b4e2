// tips/model/text_encoder.h - the TIPS text encoder: scaled token embedding + fixed sinusoidal positions,
// pre-norm blocks with a key-padding mask and a masked ReLU MLP, final norm, masked mean pooling.
// Names equal the official checkpoint keys (token_embedding, transformer.resblocks.{i}.*, ln_final).
//
// Legend: B batch, L tokens (text.max_len), D width.
#pragma once
#include <torch/torch.h>

#include "tips/model/config.h"

namespace tips::model {

class TextEncoderImpl : public torch::nn::Cloneable<TextEncoderImpl> {
 public:
  explicit TextEncoderImpl(const TextConfig& cfg);
  void reset() override;

  // ids: (B, L) int64 token ids, 0 = padding. Returns (B, D) float: the masked mean of the final-norm
  // tokens (NOT L2-normalised; callers normalise for similarities).
  torch::Tensor forward(const torch::Tensor& ids);

  const TextConfig& config() const { return cfg_; }

 private:
  TextConfig cfg_;
};
TORCH_MODULE(TextEncoder);

}  // namespace tips::model
