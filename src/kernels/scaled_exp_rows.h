// Private: the loop of kernels/scaled_exp.h on raw pointers, compiled for AVX-512 in scaled_exp_avx512.cpp.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// out[i] = exp(x[i] * scale) for i in [begin, end); x is float32, or bf16 when `bf16`.
void scaled_exp_range(const void* x, bool bf16, float scale, int64_t begin, int64_t end, float* out);

}  // namespace tips::kernels::avx512
