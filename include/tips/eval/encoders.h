// tips/eval/encoders.h - what the evaluations read from a model: the features of a batch of images and the
// embeddings of a list of texts. `run_evaluations` (evaluator.h) sees a model only through this interface, so that
// everything it does with the features (manifests, prompts, batching, readouts, scoring) can be tested with
// features built by hand (tests/eval/evaluator_test.cpp).
//
// Example:
//   TowerEncoders enc(vision, text, tok, cfg.text.max_len, device, cfg.eval.batch_size);  // towers in eval mode
//   model::VisionOutput out = enc.encode_images(images.to(enc.device()), /*dense_readouts=*/false);
//   torch::Tensor t = enc.encode_texts({"a photo of a bag."});                              // (1, D) on the CPU
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tips/data/tokenizer.h"
#include "tips/eval/eval_set.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

namespace tips::eval {

class Encoders {
 public:
  virtual ~Encoders() = default;
  // images (B, 3, S, S) in [0, 1] on device(), S a multiple of patch_size() -> cls1, cls2, patches and, with
  // dense_readouts, value_patches and penultimate_patches (model::VisionOutput's layout).
  virtual model::VisionOutput encode_images(const torch::Tensor& images, bool dense_readouts) = 0;
  // texts -> (T, D) float on the CPU, not normalised.
  virtual torch::Tensor encode_texts(const std::vector<std::string>& texts) = 0;
  virtual int64_t patch_size() const = 0;
  virtual torch::Device device() const = 0;
};

// Every record of `split` through the image encoder, `batch_size` at a time in file order, at image_size x
// image_size: on_batch(begin, images (b, 3, S, S) on enc.device(), their features). Throws DataError for a split
// without records.
using EncodedBatchFn = std::function<void(int64_t, const torch::Tensor&, const model::VisionOutput&)>;
void for_each_encoded_batch(Encoders& enc, const EvalSplit& split, int64_t batch_size, int64_t image_size,
                            bool dense_readouts, const EncodedBatchFn& on_batch);

// The two towers of a model and its tokenizer. Both towers are in eval mode while this object lives, and get
// their training flags back when it goes. The towers must already live on `device`. Texts are embedded
// `batch_size` at a time.
class TowerEncoders final : public Encoders {
 public:
  TowerEncoders(model::VisionTransformer vision, model::TextEncoder text, const data::Tokenizer& tok, int64_t max_len,
                torch::Device device, int64_t batch_size);
  ~TowerEncoders() override;
  TowerEncoders(const TowerEncoders&) = delete;
  TowerEncoders& operator=(const TowerEncoders&) = delete;

  model::VisionOutput encode_images(const torch::Tensor& images, bool dense_readouts) override;
  torch::Tensor encode_texts(const std::vector<std::string>& texts) override;
  int64_t patch_size() const override;
  torch::Device device() const override { return device_; }

 private:
  model::VisionTransformer vision_;
  model::TextEncoder text_;
  const data::Tokenizer& tok_;
  int64_t max_len_;
  torch::Device device_;
  int64_t batch_size_;
  bool vision_was_training_, text_was_training_;
};

}  // namespace tips::eval
