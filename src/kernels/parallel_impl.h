// Private helper of src/kernels/*.cpp: how many rows one at::parallel_for task takes.
#pragma once
#include <algorithm>
#include <cstdint>

namespace tips::kernels::detail {

// Rows of `row_len` values per task, so that each task covers about `values` values (at least one row).
inline int64_t grain_rows(int64_t row_len, int64_t values) {
  return std::max<int64_t>(1, values / std::max<int64_t>(row_len, 1));
}

}  // namespace tips::kernels::detail
