// AVX-512 row loops of kernels/softmax.h; see avx512_impl.h for how these files are built. Each row is read in
// 16-lane vectors with a masked tail, so any row length works (the demo's attention rows hold 51 keys).
#include <cstdint>
#include <vector>

#include "avx512_impl.h"
#include "softmax_rows.h"

namespace tips::kernels::avx512 {
namespace {

// e[c] = exp((x[c] - max) * scale) into the float scratch row; returns their sum. A row holding a NaN sums to NaN
// (exp(NaN) = NaN), and so does a row of only -inf (-inf - -inf = NaN): both then give NaN rows, as ATen does.
template <typename T>
float exp_row(const T* x, int64_t n, float max, float scale, float* e) {
  const __m512 m = _mm512_set1_ps(max), s = _mm512_set1_ps(scale);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t c = 0; c < n; c += kLanes) {
    const __mmask16 lanes = lanes_from(c, n);
    const __m512 v = Sleef_expf16_u10(_mm512_mul_ps(_mm512_sub_ps(load(x, c, lanes), m), s));
    _mm512_mask_storeu_ps(e + c, lanes, v);
    sum = _mm512_mask_add_ps(sum, lanes, sum, v);
  }
  return _mm512_reduce_add_ps(sum);
}

template <typename T>
void forward_rows(const T* x, int64_t n, float scale, int64_t begin, int64_t end, T* y) {
  std::vector<float> e(static_cast<size_t>(n));
  for (int64_t r = begin; r < end; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const __m512 inv = _mm512_set1_ps(1.0f / exp_row(xr, n, row_max(xr, n), scale, e.data()));
    for (int64_t c = 0; c < n; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, n);
      store(yr, c, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, e.data() + c), inv));
    }
  }
}

template <typename T>
void backward_rows(const T* g, const T* y, int64_t n, float scale, int64_t begin, int64_t end, T* dx) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t r = begin; r < end; ++r) {
    const T *gr = g + r * n, *yr = y + r * n;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, n);
      acc = _mm512_fmadd_ps(load(gr, c, lanes), load(yr, c, lanes), acc);  // masked lanes load 0
    }
    const __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
    for (int64_t c = 0; c < n; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, n);
      const __m512 yv = _mm512_mul_ps(load(yr, c, lanes), s);
      store(dx + r * n, c, lanes, _mm512_mul_ps(yv, _mm512_sub_ps(load(gr, c, lanes), dot)));
    }
  }
}

}  // namespace

void softmax_forward_rows(const void* x, bool bf16, int64_t n, float scale, int64_t begin, int64_t end, void* y) {
  if (bf16) {
    forward_rows(static_cast<const uint16_t*>(x), n, scale, begin, end, static_cast<uint16_t*>(y));
  } else {
    forward_rows(static_cast<const float*>(x), n, scale, begin, end, static_cast<float*>(y));
  }
}

void softmax_backward_rows(const void* g, const void* y, bool bf16, int64_t n, float scale, int64_t begin, int64_t end,
                           void* dx) {
  if (bf16) {
    backward_rows(static_cast<const uint16_t*>(g), static_cast<const uint16_t*>(y), n, scale, begin, end,
                  static_cast<uint16_t*>(dx));
  } else {
    backward_rows(static_cast<const float*>(g), static_cast<const float*>(y), n, scale, begin, end,
                  static_cast<float*>(dx));
  }
}

}  // namespace tips::kernels::avx512
