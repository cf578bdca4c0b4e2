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

}  // namespace tips::loss
