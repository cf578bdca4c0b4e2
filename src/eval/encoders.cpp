#include "tips/eval/encoders.h"

#include <algorithm>
#include <utility>

#include "tips/core/error.h"

namespace tips::eval {

void for_each_encoded_batch(Encoders& enc, const EvalSplit& split, int64_t batch_size, int64_t image_size,
                            bool dense_readouts, const EncodedBatchFn& on_batch) {
  const auto n = static_cast<int64_t>(split.records.size());
  if (n == 0) throw DataError("eval split " + split.manifest + " has no records", "check the manifest");
  for (int64_t b = 0; b < n; b += batch_size) {
    const auto images = load_images(split.records, b, std::min(n, b + batch_size), image_size).to(enc.device());
    on_batch(b, images, enc.encode_images(images, dense_readouts));
  }
}

TowerEncoders::TowerEncoders(model::VisionTransformer vision, model::TextEncoder text, const data::Tokenizer& tok,
                             int64_t max_len, torch::Device device, int64_t batch_size)
    : vision_(std::move(vision)), text_(std::move(text)), tok_(tok), max_len_(max_len), device_(device),
      batch_size_(batch_size), vision_was_training_(vision_->is_training()), text_was_training_(text_->is_training()) {
  vision_->eval();
  text_->eval();
}

TowerEncoders::~TowerEncoders() {
  vision_->train(vision_was_training_);
  text_->train(text_was_training_);
}

model::VisionOutput TowerEncoders::encode_images(const torch::Tensor& images, bool dense_readouts) {
  return vision_->forward(images, /*patch_mask=*/{}, dense_readouts);
}

torch::Tensor TowerEncoders::encode_texts(const std::vector<std::string>& texts) {
  std::vector<torch::Tensor> parts;
  const auto step = static_cast<size_t>(std::max<int64_t>(1, batch_size_));
  for (size_t i = 0; i < texts.size(); i += step) {
    const std::vector<std::string> chunk(texts.begin() + i, texts.begin() + std::min(texts.size(), i + step));
    parts.push_back(text_->forward(tok_.encode(chunk, max_len_).to(device_)).to(torch::kCPU, torch::kFloat));
  }
  return torch::cat(parts);
}

int64_t TowerEncoders::patch_size() const { return vision_->config().patch_size; }

}  // namespace tips::eval
