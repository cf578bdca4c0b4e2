#include "tips/eval/zero_shot_cls.h"

#include <algorithm>

namespace tips::eval {

namespace F = torch::nn::functional;

torch::Tensor image_embedding(const model::VisionOutput& out, ClsToken token) {
  const auto& cls = token == ClsToken::kCls1 ? out.cls1 : out.cls2;
  TORCH_CHECK(cls.defined() && cls.dim() == 2, "image_embedding: CLS token missing or not (B, D)");
  return F::normalize(cls.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1));
}

torch::Tensor cosine_scores(const torch::Tensor& images, const torch::Tensor& classes) {
  TORCH_CHECK(images.dim() == 2 && classes.dim() == 2 && images.size(1) == classes.size(1),
              "cosine_scores: images ", images.sizes(), " vs classes ", classes.sizes());
  const auto opts = F::NormalizeFuncOptions().dim(-1);
  return torch::matmul(F::normalize(images.to(torch::kFloat), opts),
                       F::normalize(classes.to(images.device(), torch::kFloat), opts).t());
}

double topk_accuracy(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k) {
  TORCH_CHECK(scores.dim() == 2 && labels.dim() == 1 && labels.size(0) == scores.size(0),
              "topk_accuracy: scores ", scores.sizes(), " vs labels ", labels.sizes());
  TORCH_CHECK(k >= 1, "topk_accuracy: k must be >= 1, got ", k);
  if (scores.size(0) == 0) return 0.0;
  const int64_t kk = std::min(k, scores.size(1));
  const auto top = std::get<1>(scores.topk(kk, /*dim=*/1));                       // (B, k)
  const auto hit = (top == labels.to(top.device()).unsqueeze(1)).any(/*dim=*/1);  // (B,)
  return hit.to(torch::kDouble).mean().item<double>();
}

}  // namespace tips::eval
