// Private: the loops of kernels/gelu.h on raw bf16 bits, compiled for AVX-512 in gelu_avx512.cpp. The tables
// hold one float per bf16 bit pattern (65536 entries).
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// out[i] = bf16(value_table[x[i]]) for i in [begin, end).
void gelu_forward_range(const uint16_t* x, const float* value_table, int64_t begin, int64_t end, uint16_t* out);

// out[i] = bf16(float(grad[i]) * slope_table[x[i]]) for i in [begin, end).
void gelu_backward_range(const uint16_t* grad, const uint16_t* x, const float* slope_table, int64_t begin, int64_t end,
                         uint16_t* out);

}  // namespace tips::kernels::avx512
