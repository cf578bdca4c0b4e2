// The sum of squares of a list of tensors: fixed pieces of each tensor, one parallel loop over all pieces, each
// piece's float64 sum kept in its slot and the slots added in order.
#include "tips/kernels/sum_of_squares.h"

#include <algorithm>
#include <vector>

#include "parallel_impl.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

// Eight independent float64 sums, so that the compiler can keep them in vector registers and the adds do not wait
// on one another; then added together in a fixed order.
template <typename T>
double piece_sum_of_squares(const T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      const double v = static_cast<double>(x[i + k]);
      acc[k] += v * v;
    }
  for (; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    acc[0] += v * v;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double piece_sum(const torch::Tensor& t, const detail::TensorPiece& p) {
  if (t.scalar_type() == torch::kDouble) return piece_sum_of_squares(t.data_ptr<double>() + p.begin, p.end - p.begin);
  return piece_sum_of_squares(t.data_ptr<float>() + p.begin, p.end - p.begin);
}

}  // namespace

bool fused_sum_of_squares_applies(const std::vector<torch::Tensor>& tensors) {
  if (!fused_cpu_kernels() || tensors.empty()) return false;
  return std::all_of(tensors.begin(), tensors.end(), [](const torch::Tensor& t) {
    return t.defined() && t.device().is_cpu() && t.is_contiguous() &&
           (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
  });
}

double sum_of_squares(const std::vector<torch::Tensor>& tensors) {
  TORCH_CHECK(fused_sum_of_squares_applies(tensors),
              "sum_of_squares: CPU float32/float64 contiguous tensors only, and the fused kernels on");
  std::vector<int64_t> numels;
  for (const auto& t : tensors) numels.push_back(t.numel());
  const auto pieces = detail::tensor_pieces(numels);
  std::vector<double> sums(pieces.size(), 0.0);
  detail::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const detail::TensorPiece& p = pieces[static_cast<size_t>(i)];
      sums[static_cast<size_t>(i)] = piece_sum(tensors[p.tensor], p);
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace tips::kernels
