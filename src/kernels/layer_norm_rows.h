// Private: the row loops of kernels/layer_norm.h on raw pointers, compiled for AVX-512 in layer_norm_avx512.cpp.
// Rows are contiguous, D floats each.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// Rows [begin, end): mean, rstd = 1 / sqrt(var + eps) (biased variance, two passes), y = bf16((x - mean) * rstd *
// w + b).
void layer_norm_forward_rows(const float* x, const float* w, const float* b, int64_t d, float eps, int64_t begin,
                             int64_t end, uint16_t* y, float* mean, float* rstd);

// Rows [begin, end) of dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w and xhat = (x - mean) *
// rstd; dy is bf16 when `dy_bf16`, else float32. Adds this range's dy * xhat and dy into dw and db (D each).
void layer_norm_backward_rows(const void* dy, bool dy_bf16, const float* x, const float* w, const float* mean,
                              const float* rstd, int64_t d, int64_t begin, int64_t end, float* dx, float* dw,
                              float* db);

}  // namespace tips::kernels::avx512
