// Private: the row loops of kernels/softmax.h on raw pointers, compiled for AVX-512 in softmax_avx512.cpp.
// Rows are contiguous, `n` values each; values are float32, or bf16 bits when `bf16`.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// y[r] = softmax(x[r] * scale) for rows r in [begin, end).
void softmax_forward_rows(const void* x, bool bf16, int64_t n, float scale, int64_t begin, int64_t end, void* y);

// dx[r] = scale * y[r] * (g[r] - <g[r], y[r]>) for rows r in [begin, end).
void softmax_backward_rows(const void* g, const void* y, bool bf16, int64_t n, float scale, int64_t begin, int64_t end,
                           void* dx);

}  // namespace tips::kernels::avx512
