// Private: the float32 loop of kernels/adamw.h on raw pointers, compiled for AVX-512 in adamw_avx512.cpp.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

// One tensor's AdamW scalars, rounded to T as ATen rounds a double scalar for a T tensor (adamw.cpp fills them; its
// float64 loop and the float32 AVX-512 loop below read them).
template <typename T>
struct AdamWCoefficients {
  T decay, b1, one_minus_b1, b2, one_minus_b2, sqrt_bc2, eps, neg_step_size;
  T grad_scale;  // the clip's factor, rounded to T as ATen's mul_ by a double rounds it
  bool decays;   // weight decay != 0 (LibTorch skips the product then, and so do we)
  bool scales;   // grad_scale != 1 (then g * grad_scale stands for g, as if the gradient had been scaled first)
};

// The update of kernels/adamw.h on n values, in place.
void adamw_range(float* p, const float* g, float* m, float* v, const AdamWCoefficients<float>& k, int64_t n);

}  // namespace tips::kernels::avx512
