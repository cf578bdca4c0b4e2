#include "tips/loss/patch_text.h"

#include "loss_impl.h"

namespace tips::loss {

namespace F = torch::nn::functional;

torch::Tensor patch_text_similarity(const torch::Tensor& patches, const torch::Tensor& txt_all) {
  TORCH_CHECK(patches.dim() == 3 && txt_all.dim() == 2 && patches.size(2) == txt_all.size(1) && patches.size(1) > 0,
              "patch_text_similarity: expected patches (B, N >= 1, D) and texts (G, D), got ", patches.sizes(),
              " and ", txt_all.sizes());
  const auto p = F::normalize(detail::at_least_f32(patches), F::NormalizeFuncOptions().dim(-1));  // (B, N, D)
  const auto t = F::normalize(detail::at_least_f32(txt_all), F::NormalizeFuncOptions().dim(-1));  // (G, D)
  return torch::matmul(p, t.t()).amax(/*dim=*/1);  // (B, N, G) -> (B, G)
}

ContrastiveTerms similarity_infonce(const torch::Tensor& sim, const torch::Tensor& sim_all, int64_t offset,
                                    const torch::Tensor& temperature) {
  TORCH_CHECK(sim.dim() == 2 && sim_all.dim() == 2 && sim_all.size(0) == sim_all.size(1) &&
                  sim.size(1) == sim_all.size(1),
              "similarity_infonce: expected this rank's rows (B, G) and all rows (G, G), got ", sim.sizes(), " and ",
              sim_all.sizes());
  TORCH_CHECK(offset >= 0 && offset + sim.size(0) <= sim_all.size(0), "similarity_infonce: rows [", offset, ", ",
              offset + sim.size(0), ") of this rank do not fit in the gathered batch of ", sim_all.size(0));
  TORCH_CHECK(temperature.numel() == 1, "similarity_infonce: temperature must be a scalar, got ", temperature.sizes());
  const auto tau = detail::at_least_f32(temperature).reshape({});
  const auto logits_i2t = detail::at_least_f32(sim) / tau;                                           // (B, G)
  const auto logits_t2i = detail::at_least_f32(sim_all).narrow(1, offset, sim.size(0)).t() / tau;    // (B, G)
  return detail::symmetric_infonce(logits_i2t, logits_t2i, offset);
}

}  // namespace tips::loss
