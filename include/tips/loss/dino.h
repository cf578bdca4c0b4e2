// tips/loss/dino.h - DINO global self-distillation: the cross-entropy and the teacher-target transforms,
// all pure functions. The center's EMA state and the cross-rank sums live in train/teacher.h.
//
// Legend: S student views, T teacher views, B batch, K prototypes, M rows of any leading shape.
// Example (TIPS: teacher = the unmasked global crop, students = the 6 local crops):
//   auto t = loss::softmax_center_teacher(teacher_logits, center, /*temp=*/0.04);   // (1, B, K)
//   auto l = loss::dino_loss(student_logits /*(6, B, K)*/, t, /*student_temp=*/0.1);
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "tips/loss/reducer.h"

namespace tips::loss {

// Mean over all (student view, teacher view) pairs and the batch of
//   CE(t, s) = -sum_k t[k] * log_softmax(s / student_temp)[k].
// This is DINOv2's normalisation: the sum over pairs of the batch-mean CE, divided by the number of pairs.
// Every S x T pair counts; to exclude same-view pairs (two-global-crop DINO) call it once per allowed subset.
//   student_logits: (S, B, K) any float dtype (math in float32); teacher_probs: (T, B, K) rows summing to 1.
// Returns () float32 (float64 for float64 inputs). Gradient flows to student_logits (and teacher_probs if it
// requires grad; callers pass targets computed under no_grad).
torch::Tensor dino_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_probs, double student_temp);

// softmax((logits - center) / temp) over the last dim: DINO centering + sharpening.
//   logits: (..., K); center: (K) or broadcastable (1, K). Returns float32 (..., K), detached.
torch::Tensor softmax_center_teacher(const torch::Tensor& logits, const torch::Tensor& center, double temp);

// Sinkhorn-Knopp equipartition of the teacher scores (SwAV / DINOv2):
//   Q = exp(logits / temp), normalised so that over the GLOBAL batch each prototype gets mass 1/K and each
//   row mass 1/B_global, iterated `iters` times; the result is scaled so every row sums to 1.
//   logits: (M, K) this rank's rows (flatten tokens first). reduce: global sum over ranks (default: none).
// Returns float32 (M, K), detached: rows sum to 1 exactly; column sums over the global batch approach B_global / K
// as iters grows. Logits are expected to be the head's cosine scores (|logit| <= 1): exp(logit / temp) overflows
// float32 once logit / temp > 88 (DINOv2 makes the same assumption and does not shift).
torch::Tensor sinkhorn_knopp(const torch::Tensor& logits, double temp, int64_t iters, const SumReducer& reduce = {});

// Several Sinkhorn-Knopp problems in lockstep, e.g. the DINO and the iBOT targets of one step: each result equals
// sinkhorn_knopp of that problem alone, to the bit, but each iteration makes one reduce for all of them (their
// column masses, and on the first iteration their row counts, travel in one tensor) instead of one per problem.
// A problem with fewer iterations leaves the lockstep after its last one. All logits must share a dtype.
struct SinkhornProblem {
  torch::Tensor logits;  // (M, K), this rank's rows
  double temp;
  int64_t iters;
};
std::vector<torch::Tensor> sinkhorn_knopp_joint(const std::vector<SinkhornProblem>& problems,
                                                const SumReducer& reduce = {});

// Mean over rows of the entropy -sum_k p[k] log p[k] of target distributions (..., K) -> () float32, detached
// (0 log 0 = 0). A diagnostic: a self-distillation loss can only fall below ln K when its targets do.
torch::Tensor mean_entropy(const torch::Tensor& probs);

}  // namespace tips::loss
