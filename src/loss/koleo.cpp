#include "tips/loss/koleo.h"

#include "loss_impl.h"

namespace tips::loss {

torch::Tensor koleo_loss(const torch::Tensor& x, double eps) { return koleo_loss(x, x, 0, eps); }

torch::Tensor koleo_loss(const torch::Tensor& x, const torch::Tensor& x_all, int64_t offset, double eps) {
  TORCH_CHECK(x.dim() == 2 && x_all.dim() == 2 && x.size(1) == x_all.size(1),
              "koleo_loss: expected (B, D) rows and (N, D) gathered rows, got ", x.sizes(), " and ", x_all.sizes());
  TORCH_CHECK(x_all.size(0) >= 2 && offset >= 0 && offset + x.size(0) <= x_all.size(0),
              "koleo_loss: need N >= 2 gathered rows holding this rank's B at [offset, offset + B), got N = ",
              x_all.size(0), ", B = ", x.size(0), ", offset = ", offset);
  namespace F = torch::nn::functional;
  const auto normalize = [eps](const torch::Tensor& t) {
    return F::normalize(detail::at_least_f32(t), F::NormalizeFuncOptions().dim(-1).eps(eps));
  };
  const auto u = normalize(x);                                 // (B, D)
  const auto u_all = x_all.is_same(x) ? u : normalize(x_all);  // (N, D)
  torch::Tensor nearest;
  {
    // The search runs on float64 rows: between unit rows at distance d, cos = 1 - d^2 / 2, and near collapse (the
    // start of training, where KoLeo matters) float32's resolution near 1 (6e-8) ranks distances of 0.01 only to
    // ~0.1 %; the neighbour would follow the rounding, e.g. of the batch's split over ranks. The distance itself
    // is taken from the rows' difference below, which float32 resolves.
    torch::NoGradGuard no_grad;
    const auto unit64 = [eps](const torch::Tensor& t) {
      return F::normalize(t.to(torch::kDouble), F::NormalizeFuncOptions().dim(-1).eps(eps));
    };
    const auto u64 = unit64(x);
    auto dots = torch::matmul(u64, x_all.is_same(x) ? u64.t() : unit64(x_all).t());  // (B, N)
    dots.diagonal(offset, 0, 1).fill_(-2.0);  // (i, offset + i): below any cosine, never pick yourself
    nearest = dots.argmax(/*dim=*/1);         // (B)
  }
  const auto neighbours = u_all.index_select(0, nearest);  // (B, D)
  const auto dist = F::pairwise_distance(u, neighbours, F::PairwiseDistanceFuncOptions().eps(eps));
  return -torch::log(dist + eps).mean();
}

}  // namespace tips::loss
