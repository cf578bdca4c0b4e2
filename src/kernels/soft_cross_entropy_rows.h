// Private: the row loops of kernels/soft_cross_entropy.h on raw pointers, compiled for AVX-512 in
// soft_cross_entropy_avx512.cpp (the only file built with those instructions; callers check the CPU first).
// Rows are contiguous, K floats or bf16 values each; `bf16` says which the logits and their gradient are.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// Rows [begin, end): z = logits * inv_temp; max = max_k z_k; log_sum = log sum_k exp(z_k - max); mass = sum_k p_k;
// ce = -sum_k p_k log_softmax(z)_k = mass * log_sum - sum_k p_k (z_k - max).
void soft_ce_forward_rows(const void* logits, bool bf16, const float* probs, int64_t k, float inv_temp, int64_t begin,
                          int64_t end, float* ce, float* max, float* log_sum, float* mass);

// Rows [begin, end): grad_logits = g * inv_temp * (mass * softmax(z) - p) with g = grad_ce[row], written in the
// logits' dtype (bf16 rounded to nearest even).
void soft_ce_backward_rows(const void* logits, bool bf16, const float* probs, const float* max, const float* log_sum,
                           const float* mass, const float* grad_ce, int64_t k, float inv_temp, int64_t begin,
                           int64_t end, void* grad_logits);

}  // namespace tips::kernels::avx512
