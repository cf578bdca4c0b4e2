#include "tips/eval/knn.h"

#include <algorithm>

namespace tips::eval {

namespace F = torch::nn::functional;

torch::Tensor knn_votes(const torch::Tensor& bank, const torch::Tensor& bank_labels, const torch::Tensor& queries,
                        int64_t num_classes, const KnnParams& params) {
  TORCH_CHECK(bank.dim() == 2 && queries.dim() == 2 && bank.size(1) == queries.size(1), "knn_votes: bank ",
              bank.sizes(), " vs queries ", queries.sizes());
  TORCH_CHECK(bank_labels.dim() == 1 && bank_labels.size(0) == bank.size(0), "knn_votes: bank_labels ",
              bank_labels.sizes(), " vs bank ", bank.sizes());
  TORCH_CHECK(bank.size(0) >= 1 && params.k >= 1 && params.temperature > 0 && params.query_chunk >= 1,
              "knn_votes: need a non-empty bank, k >= 1, temperature > 0 (k ", params.k, ", T ",
              params.temperature, ")");
  const auto opts = F::NormalizeFuncOptions().dim(-1);
  const auto b = F::normalize(bank.to(torch::kFloat), opts);                          // (M, D)
  const auto labels = bank_labels.to(b.device(), torch::kLong);                       // (M,)
  const int64_t k = std::min(params.k, b.size(0));
  std::vector<torch::Tensor> out;
  for (int64_t q0 = 0; q0 < queries.size(0); q0 += params.query_chunk) {
    const auto q = F::normalize(queries.narrow(0, q0, std::min(params.query_chunk, queries.size(0) - q0))
                                    .to(b.device(), torch::kFloat), opts);           // (q, D)
    auto [sim, idx] = torch::matmul(q, b.t()).topk(k, /*dim=*/1);                      // (q, k)
    const auto weights = (sim / params.temperature).exp();                             // (q, k)
    auto votes = torch::zeros({q.size(0), num_classes}, weights.options());
    out.push_back(votes.scatter_add_(/*dim=*/1, labels.index({idx}), weights));        // (q, C)
  }
  if (out.empty()) return torch::zeros({0, num_classes}, torch::kFloat);
  return torch::cat(out);
}

}  // namespace tips::eval
