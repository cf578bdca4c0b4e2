// tips/model/text_encoder.h - the TIPS text encoder: scaled token embedding + fixed sinusoidal positions,
// pre-norm blocks with a key-padding mask and a masked ReLU MLP, final norm, masked mean pooling.
// Names equal the official checkpoint keys (token_embedding, transformer.resblocks.{i}.*, ln_final).
// Not here: tokenisation (data/tokenizer.h), L2 normalisation, the temperature.
//
// Legend: B batch, L tokens (text.max_len), D width.
// Padding is id 0. A caption of only padding gives a zero embedding (its attention rows, which would be all
// -inf, attend to every key instead: finite, then removed by the masked mean; the official model gives the
// same zero through NaNs that torch.where discards).
// Init (training from scratch; the official code has none): token_embedding normal(0, 1/sqrt(D)) so that the
// sqrt(D)-scaled embedding has unit scale, Linear / in_proj weights trunc_normal(0.02), zero biases, LayerNorm
// (1, 0); drawn in reset() from rng::generator(rng::derive(seed, 0)).
#pragma once
#include <torch/torch.h>

#include "tips/model/block.h"
#include "tips/model/config.h"

namespace tips::model {

// (1, L, D) float32 sinusoidal signal: D/2 inverse timescales geometric from 1 to 1/10000,
// [sin(pos * inv_ts) ..., cos(pos * inv_ts) ...] (a zero column appended when D is odd).
torch::Tensor sinusoidal_positions(int64_t length, int64_t dim);

// Holder of `resblocks` so that keys read transformer.resblocks.{i}.*.
class TextTransformerImpl : public torch::nn::Cloneable<TextTransformerImpl> {
 public:
  TextTransformerImpl(const TextBlockConfig& block_cfg, int64_t depth);
  void reset() override;
  // x: (B, L, D); pad: undefined or bool (B, L). Returns (B, L, D).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad = {});

  torch::nn::ModuleList resblocks{nullptr};  // depth x TextBlock

 private:
  TextBlockConfig block_cfg_;
  int64_t depth_;
};
TORCH_MODULE(TextTransformer);

class TextEncoderImpl : public torch::nn::Cloneable<TextEncoderImpl> {
 public:
  explicit TextEncoderImpl(const TextConfig& cfg, uint64_t seed = 0);
  void reset() override;

  // ids: (B, L) integer token ids, 0 = padding, 0 <= id < vocab_size. Returns (B, D) in the parameter dtype:
  // the masked mean of the final-norm tokens (NOT L2-normalised; callers normalise for similarities).
  // Runs the rows in length buckets (model/length_buckets.h), each trimmed to its longest caption: the same
  // embeddings as forward_padded up to float rounding, since padding reaches no valid token.
  torch::Tensor forward(const torch::Tensor& ids);
  // The same over all L columns in one batch: the reference that forward's buckets are tested against.
  torch::Tensor forward_padded(const torch::Tensor& ids);

  const TextConfig& config() const { return cfg_; }

  torch::nn::Embedding token_embedding{nullptr};  // (vocab, D)
  TextTransformer transformer{nullptr};
  torch::nn::LayerNorm ln_final{nullptr};

 private:
  void init_parameters();
  TextConfig cfg_;
  uint64_t seed_;
};
TORCH_MODULE(TextEncoder);

}  // namespace tips::model
