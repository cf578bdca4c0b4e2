// Private helpers of src/kernels/*.cpp: the kernels' parallel loop, how many rows one of its tasks takes, and column
// sums over rows that come out the same on every run.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace tips::kernels::detail {

// at::parallel_for, compiled where it can reach the intra-op threads (parallel.cpp). With LibTorch's OpenMP backend
// at::parallel_for is an inline `#pragma omp parallel`: a file compiled without -fopenmp gets a loop that silently
// runs on one thread. So the kernels call this one instead of the ATen template.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Rows of `row_len` values per task, so that each task covers about `values` values (at least one row).
inline int64_t grain_rows(int64_t row_len, int64_t values) {
  return std::max<int64_t>(1, values / std::max<int64_t>(row_len, 1));
}

// Runs rows_fn(begin, end, sums) over [0, n_rows) in parallel chunks of about `grain` rows, each chunk adding its
// rows' contributions into its own zeroed `width` floats; then adds the chunks into `total` in row order, so the
// result does not depend on which thread finished first (it does on the number of threads, by float32 rounding).
template <typename RowsFn>
void ordered_column_sums(int64_t n_rows, int64_t grain, int64_t width, float* total, const RowsFn& rows_fn) {
  std::mutex merge;
  std::map<int64_t, std::vector<float>> partial;  // first row -> that chunk's sums
  parallel_for(0, n_rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> sums(static_cast<size_t>(width), 0.0f);
    rows_fn(begin, end, sums.data());
    const std::lock_guard<std::mutex> lock(merge);
    partial.emplace(begin, std::move(sums));
  });
  for (const auto& [first_row, sums] : partial)
    for (int64_t c = 0; c < width; ++c) total[c] += sums[c];
}

// One tensor's element range [begin, end) of a list of tensors: the unit of work of the kernels that walk many
// tensors in one parallel loop (AdamW, the gradients' sum of squares).
struct TensorPiece {
  size_t tensor;
  int64_t begin, end;
};

// Elements per piece: large enough that a piece outweighs the loop's per-task cost, small enough that the demo's
// larger tensors (65k-200k elements) split across both threads.
constexpr int64_t kTensorPieceElements = 16384;

// Tensors of `numels` elements cut, in order, into pieces of at most kTensorPieceElements.
inline std::vector<TensorPiece> tensor_pieces(const std::vector<int64_t>& numels) {
  std::vector<TensorPiece> pieces;
  for (size_t t = 0; t < numels.size(); ++t)
    for (int64_t begin = 0; begin < numels[t]; begin += kTensorPieceElements)
      pieces.push_back({t, begin, std::min(numels[t], begin + kTensorPieceElements)});
  return pieces;
}

}  // namespace tips::kernels::detail
