#include "tips/loss/contrastive.h"

#include "loss_impl.h"

namespace tips::loss {
namespace {

torch::Tensor unit_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(detail::at_least_f32(x), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

void check_pair(const char* fn, const torch::Tensor& local, const torch::Tensor& all, int64_t offset) {
  TORCH_CHECK(local.dim() == 2 && all.dim() == 2 && local.size(1) == all.size(1),
              fn, ": expected local (B, D) and gathered (G, D), got ", local.sizes(), " and ", all.sizes());
  TORCH_CHECK(offset >= 0 && offset + local.size(0) <= all.size(0), fn, ": rows [", offset, ", ",
              offset + local.size(0), ") of this rank do not fit in the gathered batch of ", all.size(0));
}

}  // namespace

ContrastiveTerms softmax_infonce(const torch::Tensor& img, const torch::Tensor& txt, const torch::Tensor& img_all,
                                 const torch::Tensor& txt_all, int64_t offset, const torch::Tensor& temperature) {
  check_pair("softmax_infonce(img)", img, img_all, offset);
  check_pair("softmax_infonce(txt)", txt, txt_all, offset);
  TORCH_CHECK(img.size(0) == txt.size(0), "softmax_infonce: image and text batches differ: ", img.sizes(), " vs ",
              txt.sizes());
  TORCH_CHECK(temperature.numel() == 1, "softmax_infonce: temperature must be a scalar, got ", temperature.sizes());
  const auto tau = detail::at_least_f32(temperature).reshape({});
  const auto logits_i2t = torch::matmul(unit_rows(img), unit_rows(txt_all).t()) / tau;  // (B, G)
  const auto logits_t2i = torch::matmul(unit_rows(txt), unit_rows(img_all).t()) / tau;  // (B, G)
  return detail::symmetric_infonce(logits_i2t, logits_t2i, offset);
}

torch::Tensor sigmoid_loss(const torch::Tensor& img, const torch::Tensor& txt_all, int64_t offset,
                           const torch::Tensor& temperature, const torch::Tensor& bias) {
  check_pair("sigmoid_loss", img, txt_all, offset);
  TORCH_CHECK(temperature.numel() == 1 && bias.numel() == 1, "sigmoid_loss: temperature and bias must be scalars, got ",
              temperature.sizes(), " and ", bias.sizes());
  const auto tau = detail::at_least_f32(temperature).reshape({});
  const auto logits = torch::matmul(unit_rows(img), unit_rows(txt_all).t()) / tau +
                      detail::at_least_f32(bias).reshape({});  // (B, G)
  const auto rows = torch::arange(img.size(0), img.options().dtype(torch::kLong));
  auto signs = -torch::ones_like(logits);
  signs.index_put_({rows, rows + offset}, 1.0);
  return -torch::nn::functional::logsigmoid(signs * logits).sum() / img.size(0);
}

}  // namespace tips::loss
