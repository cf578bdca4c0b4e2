// Private: the row loops of kernels/scaled_residual.h on raw pointers, compiled for AVX-512 in
// scaled_residual_avx512.cpp. Rows are contiguous, `d` values each; the branch is bf16 bits.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// out[r] = x[r] + branch[r] * gamma for rows r in [begin, end).
void scaled_residual_forward_rows(const float* x, const uint16_t* branch, const float* gamma, int64_t d, int64_t begin,
                                  int64_t end, float* out);

// grad_branch[r] = bf16(grad[r] * gamma) and gamma_sums += grad[r] * branch[r], for rows r in [begin, end).
void scaled_residual_backward_rows(const float* grad, const uint16_t* branch, const float* gamma, int64_t d,
                                   int64_t begin, int64_t end, uint16_t* grad_branch, float* gamma_sums);

}  // namespace tips::kernels::avx512
