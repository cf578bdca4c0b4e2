#include "tips/loss/koleo.h"

#include "loss_impl.h"

namespace tips::loss {

torch::Tensor koleo_loss(const torch::Tensor& x, double eps) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 2, "koleo_loss: expected (B, D) with B >= 2, got ", x.sizes());
  namespace F = torch::nn::functional;
  const auto u = F::normalize(detail::at_least_f32(x), F::NormalizeFuncOptions().dim(-1).eps(eps));  // (B, D)
  torch::Tensor nearest;
  {
    torch::NoGradGuard no_grad;
    auto dots = torch::matmul(u, u.t());  // (B, B)
    dots.fill_diagonal_(-2.0);            // below any cosine: never pick yourself
    nearest = dots.argmax(/*dim=*/1);     // (B)
  }
  const auto dist = F::pairwise_distance(u, u.index_select(0, nearest), F::PairwiseDistanceFuncOptions().eps(eps));
  return -torch::log(dist + eps).mean();
}

}  // namespace tips::loss
