#include "tips/eval/retrieval.h"

namespace tips::eval {

torch::Tensor correct_ranks(const torch::Tensor& sim) {
  TORCH_CHECK(sim.dim() == 2 && sim.size(0) == sim.size(1), "correct_ranks: expected (N, N), got ", sim.sizes());
  const auto s = sim.to(torch::kDouble);
  const auto own = s.diag().unsqueeze(1);  // (N, 1)
  // ">=" counts ties against the query; the diagonal itself is always counted once, hence - 1.
  return (s >= own).sum(/*dim=*/1) - 1;
}

RetrievalRecall retrieval_recall(const torch::Tensor& sim, const std::vector<int64_t>& ks) {
  const auto i2t = correct_ranks(sim);
  const auto t2i = correct_ranks(sim.t());
  RetrievalRecall r;
  for (int64_t k : ks) {
    TORCH_CHECK(k >= 1, "retrieval_recall: K must be >= 1, got ", k);
    r.image_to_text[k] = (i2t < k).to(torch::kDouble).mean().item<double>();
    r.text_to_image[k] = (t2i < k).to(torch::kDouble).mean().item<double>();
  }
  return r;
}

ClsToken retrieval_token(const std::string& field, bool by_stream, ClsToken fallback) {
  if (!by_stream) return fallback;
  return field == "alt_text" ? ClsToken::kCls1 : ClsToken::kCls2;
}

}  // namespace tips::eval
