// tips/loss/koleo.h - the KoLeo (Kozachenko-Leonenko) spreading regulariser, pure (DINOv2 applies it to the
// student CLS features of each global crop). Off by default: TIPS does not mention it (recipe section 2.4).
//
// Legend: B batch, D width.
#pragma once
#include <torch/torch.h>

namespace tips::loss {

// x: (B, D), B >= 2. Rows are L2-normalised; for each row i with nearest other row j(i) (max cosine),
//   loss = -mean_i log(||x_i - x_j(i) + eps||_2 + eps).
// Returns () float32 (float64 for float64 inputs). The neighbour choice carries no gradient.
torch::Tensor koleo_loss(const torch::Tensor& x, double eps = 1e-8);

// Distributed form: x (B, D) are this rank's rows, x_all (N, D) the rows of every rank (all-gathered with
// gradient), this rank's at [offset, offset + B). Each row's nearest neighbour is searched over x_all, itself
// excluded, so the mean over ranks of these losses is koleo_loss of the whole batch, whatever the rank count.
// (DINOv2 searches within each rank's batch instead.) koleo_loss(x, x, 0) == koleo_loss(x).
torch::Tensor koleo_loss(const torch::Tensor& x, const torch::Tensor& x_all, int64_t offset, double eps = 1e-8);

}  // namespace tips::loss
