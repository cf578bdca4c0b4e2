#include "tips/loss/dino.h"

#include <algorithm>

#include "loss_impl.h"
#include "tips/kernels/scaled_exp.h"

namespace tips::loss {

torch::Tensor dino_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_probs, double student_temp) {
  TORCH_CHECK(student_logits.dim() == 3 && teacher_probs.dim() == 3 &&
                  student_logits.size(1) == teacher_probs.size(1) && student_logits.size(2) == teacher_probs.size(2),
              "dino_loss: expected student (S, B, K) and teacher (T, B, K), got ", student_logits.sizes(), " and ",
              teacher_probs.sizes());
  TORCH_CHECK(student_temp > 0, "dino_loss: student_temp must be > 0, got ", student_temp);
  // sum_{s,t} CE(t, s) = -sum_s <sum_t t, log p_s>: one (S, B, K) product instead of S*T.
  const auto log_p = torch::log_softmax(detail::at_least_f32(student_logits) / student_temp, /*dim=*/-1);
  const auto t_sum = detail::at_least_f32(teacher_probs).sum(0, /*keepdim=*/true);  // (1, B, K)
  const double pairs = static_cast<double>(student_logits.size(0) * teacher_probs.size(0));
  return -(t_sum * log_p).sum() / (pairs * static_cast<double>(student_logits.size(1)));
}

torch::Tensor softmax_center_teacher(const torch::Tensor& logits, const torch::Tensor& center, double temp) {
  TORCH_CHECK(temp > 0, "softmax_center_teacher: temp must be > 0, got ", temp);
  TORCH_CHECK(center.size(-1) == logits.size(-1), "softmax_center_teacher: center ", center.sizes(),
              " does not match logits ", logits.sizes());
  torch::NoGradGuard no_grad;
  const auto c = detail::at_least_f32(center).reshape({logits.size(-1)});
  // sub allocates the one (..., K) buffer; the division reuses it (no gradient here, so in place is safe).
  return torch::softmax((detail::at_least_f32(logits) - c).div_(temp), /*dim=*/-1);
}

// The iterations act on E = exp(logits / temp) only through a row scale r (M) and a column scale c (K):
// Q = diag(r) E diag(c) (row_scale, col_scale below). Each half-step needs E's row or column sums weighted by the other
// scale: one matrix-vector product that reads E once and writes only a vector, where normalising Q in place reads and
// writes the whole (M, K) matrix four times per iteration. Same arithmetic as the in-place loop up to rounding.
// The reference loop first divides Q by its total mass; the first column step divides that factor out again
// (c = 1 / (K E^T r)), so it is skipped here. Distributed, each iteration is one all-reduce: the first one also
// carries this rank's row count, which gives the global batch.
torch::Tensor sinkhorn_knopp(const torch::Tensor& logits, double temp, int64_t iters, const SumReducer& reduce) {
  return sinkhorn_knopp_joint({{logits, temp, iters}}, reduce)[0];
}

namespace {

// One problem's iterate: E and its two scales (see above).
struct SinkhornState {
  torch::Tensor e;            // (M, K) exp(logits / temp)
  torch::Tensor row_scale;    // (M)
  torch::Tensor col_scale;    // (K)
  torch::Tensor rows_global;  // () the global row count, from the first reduce
  int64_t iters;
};

SinkhornState sinkhorn_start(const SinkhornProblem& p) {
  TORCH_CHECK(p.logits.dim() == 2, "sinkhorn_knopp: expected (M, K), got ", p.logits.sizes());
  TORCH_CHECK(p.temp > 0 && p.iters >= 1, "sinkhorn_knopp: need temp > 0 and iters >= 1, got ", p.temp, ", ", p.iters);
  // bf16 scores (the heads under autocast) go straight to float32 E in one pass where the fused kernel runs.
  auto e = kernels::fused_scaled_exp_applies(p.logits) ? kernels::scaled_exp(p.logits, 1.0 / p.temp)
                                                       : detail::at_least_f32(p.logits).div(p.temp).exp_();
  auto row_scale = torch::ones({e.size(0)}, e.options());
  auto col_scale = torch::ones({e.size(1)}, e.options());
  return {std::move(e), std::move(row_scale), std::move(col_scale), torch::Tensor(), p.iters};
}

// The second half of an iteration, once the column masses are global sums: each prototype mass 1/K, then each row
// mass 1/B_global.
void sinkhorn_scale(SinkhornState& s, const torch::Tensor& col_mass) {
  s.col_scale.div_(col_mass).div_(static_cast<double>(s.e.size(1)));
  const auto row_mass = torch::mv(s.e, s.col_scale).mul_(s.row_scale);  // (M)
  s.row_scale.div_(row_mass).div_(s.rows_global);
}

}  // namespace

std::vector<torch::Tensor> sinkhorn_knopp_joint(const std::vector<SinkhornProblem>& problems,
                                                const SumReducer& reduce) {
  torch::NoGradGuard no_grad;
  std::vector<SinkhornState> states;
  int64_t rounds = 0;
  for (const auto& p : problems) {
    states.push_back(sinkhorn_start(p));
    TORCH_CHECK(states.back().e.scalar_type() == states.front().e.scalar_type(),
                "sinkhorn_knopp_joint: every problem needs the same dtype");
    rounds = std::max(rounds, p.iters);
  }
  for (int64_t it = 0; it < rounds; ++it) {
    std::vector<torch::Tensor> masses;  // per active problem: its column masses, then (first round) its row count
    for (auto& s : states) {
      if (it >= s.iters) continue;
      masses.push_back(torch::mv(s.e.t(), s.row_scale).mul_(s.col_scale));  // (K)
      if (it == 0) masses.push_back(torch::full({1}, static_cast<double>(s.e.size(0)), s.e.options()));
    }
    const auto summed = global_sum(reduce, torch::cat(masses));
    int64_t offset = 0;
    for (auto& s : states) {
      if (it >= s.iters) continue;
      const int64_t k = s.e.size(1);
      const auto col_mass = summed.narrow(0, offset, k);
      offset += k;
      if (it == 0) s.rows_global = summed[offset++];
      sinkhorn_scale(s, col_mass);
    }
  }
  std::vector<torch::Tensor> out;
  for (auto& s : states)
    out.push_back(s.e.mul_(s.row_scale.mul_(s.rows_global).unsqueeze(1)).mul_(s.col_scale.unsqueeze(0)));
  return out;
}

torch::Tensor mean_entropy(const torch::Tensor& probs) {
  torch::NoGradGuard no_grad;
  const auto p = detail::at_least_f32(probs).contiguous();
  TORCH_CHECK(p.dim() >= 1 && p.size(-1) > 0, "mean_entropy: expected (..., K) with K > 0, got ", p.sizes());
  // The mean over rows of the row sums is the total over rows divided by their count: one dot product over the
  // flattened tensors, with log p the only (..., K) buffer written (the product-then-sum wrote three).
  const auto rows = static_cast<double>(p.numel() / p.size(-1));
  return -torch::dot(p.view(-1), p.clamp_min(1e-30).log_().view(-1)) / rows;
}

}  // namespace tips::loss
