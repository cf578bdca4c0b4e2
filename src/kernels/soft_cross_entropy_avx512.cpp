// AVX-512 row loops of the fused soft cross-entropy (soft_cross_entropy_rows.h); see avx512_impl.h for how these
// files are built.
#include <cmath>
#include <cstdint>

#include "avx512_impl.h"
#include "soft_cross_entropy_rows.h"

namespace tips::kernels::avx512 {
namespace {

// One row: two passes over K values that stay in L1 (the max, then the exponentials and the target sums). The
// cross-entropy is taken as mass * log_sum - sum_k p_k (z_k - max): the terms stay small, where mass * (max +
// log_sum) - sum_k p_k z_k would cancel two large ones.
template <typename T>
void forward_row(const T* x, const float* p, int64_t k, float inv_temp, float& ce, float& max, float& log_sum,
                 float& mass) {
  const __m512 scale = _mm512_set1_ps(inv_temp);
  __m512 z_max = _mm512_set1_ps(-INFINITY);
  for (int64_t col = 0; col < k; col += kLanes) {
    const __mmask16 lanes = lanes_from(col, k);
    z_max = _mm512_mask_max_ps(z_max, lanes, z_max, _mm512_mul_ps(load(x, col, lanes), scale));
  }
  max = _mm512_reduce_max_ps(z_max);
  const __m512 shift = _mm512_set1_ps(max);
  __m512 exp_sum = _mm512_setzero_ps(), p_sum = _mm512_setzero_ps(), pd_sum = _mm512_setzero_ps();
  for (int64_t col = 0; col < k; col += kLanes) {
    const __mmask16 lanes = lanes_from(col, k);
    const __m512 d = _mm512_maskz_mov_ps(lanes, _mm512_fmsub_ps(load(x, col, lanes), scale, shift));  // z - max
    const __m512 pv = _mm512_maskz_loadu_ps(lanes, p + col);
    exp_sum = _mm512_mask_add_ps(exp_sum, lanes, exp_sum, Sleef_expf16_u10(d));
    p_sum = _mm512_add_ps(p_sum, pv);
    pd_sum = _mm512_fmadd_ps(pv, d, pd_sum);
  }
  log_sum = std::log(_mm512_reduce_add_ps(exp_sum));
  mass = _mm512_reduce_add_ps(p_sum);
  ce = mass * log_sum - _mm512_reduce_add_ps(pd_sum);
}

template <typename T>
void backward_row(const T* x, const float* p, int64_t k, float inv_temp, float max, float log_sum, float mass,
                  float grad, T* out) {
  const __m512 scale = _mm512_set1_ps(inv_temp), shift = _mm512_set1_ps(max), log_z = _mm512_set1_ps(log_sum);
  const __m512 g = _mm512_set1_ps(grad * inv_temp), g_mass = _mm512_set1_ps(grad * inv_temp * mass);
  for (int64_t col = 0; col < k; col += kLanes) {
    const __mmask16 lanes = lanes_from(col, k);
    const __m512 d = _mm512_fmsub_ps(load(x, col, lanes), scale, shift);  // z - max, as in forward
    const __m512 q = Sleef_expf16_u10(_mm512_sub_ps(d, log_z));           // softmax(z)
    const __m512 pv = _mm512_maskz_loadu_ps(lanes, p + col);
    store(out, col, lanes, _mm512_fmsub_ps(g_mass, q, _mm512_mul_ps(g, pv)));
  }
}

template <typename T>
void forward_rows(const T* x, const float* p, int64_t k, float inv_temp, int64_t begin, int64_t end, float* ce,
                  float* max, float* log_sum, float* mass) {
  for (int64_t r = begin; r < end; ++r)
    forward_row(x + r * k, p + r * k, k, inv_temp, ce[r], max[r], log_sum[r], mass[r]);
}

template <typename T>
void backward_rows(const T* x, const float* p, const float* max, const float* log_sum, const float* mass,
                   const float* grad_ce, int64_t k, float inv_temp, int64_t begin, int64_t end, T* out) {
  for (int64_t r = begin; r < end; ++r)
    backward_row(x + r * k, p + r * k, k, inv_temp, max[r], log_sum[r], mass[r], grad_ce[r], out + r * k);
}

}  // namespace

void soft_ce_forward_rows(const void* logits, bool bf16, const float* probs, int64_t k, float inv_temp, int64_t begin,
                          int64_t end, float* ce, float* max, float* log_sum, float* mass) {
  if (bf16) {
    forward_rows(static_cast<const uint16_t*>(logits), probs, k, inv_temp, begin, end, ce, max, log_sum, mass);
  } else {
    forward_rows(static_cast<const float*>(logits), probs, k, inv_temp, begin, end, ce, max, log_sum, mass);
  }
}

void soft_ce_backward_rows(const void* logits, bool bf16, const float* probs, const float* max, const float* log_sum,
                           const float* mass, const float* grad_ce, int64_t k, float inv_temp, int64_t begin,
                           int64_t end, void* grad_logits) {
  if (bf16) {
    backward_rows(static_cast<const uint16_t*>(logits), probs, max, log_sum, mass, grad_ce, k, inv_temp, begin, end,
                  static_cast<uint16_t*>(grad_logits));
  } else {
    backward_rows(static_cast<const float*>(logits), probs, max, log_sum, mass, grad_ce, k, inv_temp, begin, end,
                  static_cast<float*>(grad_logits));
  }
}

}  // namespace tips::kernels::avx512
