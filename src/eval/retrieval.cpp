#include "tips/eval/retrieval.h"

#include <cmath>
#include <map>

namespace tips::eval {

torch::Tensor correct_ranks(const torch::Tensor& sim, const torch::Tensor& groups) {
  TORCH_CHECK(sim.dim() == 2 && sim.size(0) == sim.size(1), "correct_ranks: expected (N, N), got ", sim.sizes());
  const auto s = sim.to(torch::kDouble);
  const int64_t n = s.size(0);
  torch::Tensor correct;  // (N, N) bool: is item j a right answer to query i
  if (groups.defined()) {
    TORCH_CHECK(groups.dim() == 1 && groups.size(0) == n, "correct_ranks: groups must be (", n, "), got ",
                groups.sizes());
    const auto g = groups.to(s.device(), torch::kLong);
    correct = g.unsqueeze(1) == g.unsqueeze(0);
  } else {
    correct = torch::eye(n, s.options().dtype(torch::kBool));
  }
  const auto best = torch::where(correct, s, torch::full_like(s, -INFINITY)).amax(/*dim=*/1, /*keepdim=*/true);
  // ">=" counts ties with a wrong item against the query.
  return ((s >= best) & ~correct).sum(/*dim=*/1);
}

torch::Tensor text_groups(const std::vector<std::string>& texts) {
  std::map<std::string, int64_t> ids;
  std::vector<int64_t> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(ids.emplace(t, static_cast<int64_t>(ids.size())).first->second);
  return torch::tensor(out, torch::kLong);
}

RetrievalRecall retrieval_recall(const torch::Tensor& sim, const std::vector<int64_t>& ks, const torch::Tensor& groups) {
  const auto i2t = correct_ranks(sim, groups);
  const auto t2i = correct_ranks(sim.t(), groups);
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
