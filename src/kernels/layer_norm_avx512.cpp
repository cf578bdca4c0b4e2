// AVX-512 row loops of kernels/layer_norm.h; see avx512_impl.h for how these files are built. Each row (D
// floats, 128-1536 in the presets) stays in L1 across its passes.
#include <cmath>
#include <cstdint>

#include "avx512_impl.h"
#include "layer_norm_rows.h"

namespace tips::kernels::avx512 {
namespace {

float row_mean(const float* x, int64_t d) {
  __m512 sum = _mm512_setzero_ps();
  for (int64_t c = 0; c < d; c += kLanes) sum = _mm512_add_ps(sum, load(x, c, lanes_from(c, d)));
  return _mm512_reduce_add_ps(sum) / static_cast<float>(d);
}

float row_rstd(const float* x, int64_t d, float mean, float eps) {
  const __m512 m = _mm512_set1_ps(mean);
  __m512 sq = _mm512_setzero_ps();
  for (int64_t c = 0; c < d; c += kLanes) {
    const __mmask16 lanes = lanes_from(c, d);
    const __m512 centred = _mm512_maskz_sub_ps(lanes, load(x, c, lanes), m);
    sq = _mm512_fmadd_ps(centred, centred, sq);
  }
  return 1.0f / std::sqrt(_mm512_reduce_add_ps(sq) / static_cast<float>(d) + eps);
}

template <typename G>
void backward_row(const G* dy, const float* x, const float* w, float mean, float rstd, int64_t d, float* dx, float* dw,
                  float* db) {
  const __m512 m = _mm512_set1_ps(mean), r = _mm512_set1_ps(rstd);
  __m512 sum_g = _mm512_setzero_ps(), sum_gx = _mm512_setzero_ps();
  for (int64_t c = 0; c < d; c += kLanes) {  // the two row means, and the weight and bias gradients
    const __mmask16 lanes = lanes_from(c, d);
    const __m512 g_out = load(dy, c, lanes);
    const __m512 xhat = _mm512_mul_ps(_mm512_maskz_sub_ps(lanes, load(x, c, lanes), m), r);
    const __m512 g = _mm512_mul_ps(g_out, load(w, c, lanes));
    sum_g = _mm512_add_ps(sum_g, g);
    sum_gx = _mm512_fmadd_ps(g, xhat, sum_gx);
    store(dw, c, lanes, _mm512_fmadd_ps(g_out, xhat, load(dw, c, lanes)));
    store(db, c, lanes, _mm512_add_ps(g_out, load(db, c, lanes)));
  }
  const __m512 mean_g = _mm512_set1_ps(_mm512_reduce_add_ps(sum_g) / static_cast<float>(d));
  const __m512 mean_gx = _mm512_set1_ps(_mm512_reduce_add_ps(sum_gx) / static_cast<float>(d));
  for (int64_t c = 0; c < d; c += kLanes) {
    const __mmask16 lanes = lanes_from(c, d);
    const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(load(x, c, lanes), m), r);
    const __m512 g = _mm512_mul_ps(load(dy, c, lanes), load(w, c, lanes));
    store(dx, c, lanes, _mm512_mul_ps(r, _mm512_sub_ps(_mm512_sub_ps(g, mean_g), _mm512_mul_ps(xhat, mean_gx))));
  }
}

}  // namespace

void layer_norm_forward_rows(const float* x, const float* w, const float* b, int64_t d, float eps, int64_t begin,
                             int64_t end, uint16_t* y, float* mean, float* rstd) {
  for (int64_t row = begin; row < end; ++row) {
    const float* xr = x + row * d;
    mean[row] = row_mean(xr, d);
    rstd[row] = row_rstd(xr, d, mean[row], eps);
    const __m512 m = _mm512_set1_ps(mean[row]), r = _mm512_set1_ps(rstd[row]);
    for (int64_t c = 0; c < d; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, d);
      const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(load(xr, c, lanes), m), r);
      store(y + row * d, c, lanes, _mm512_fmadd_ps(xhat, load(w, c, lanes), load(b, c, lanes)));
    }
  }
}

void layer_norm_backward_rows(const void* dy, bool dy_bf16, const float* x, const float* w, const float* mean,
                              const float* rstd, int64_t d, int64_t begin, int64_t end, float* dx, float* dw,
                              float* db) {
  for (int64_t row = begin; row < end; ++row) {
    if (dy_bf16) {
      backward_row(static_cast<const uint16_t*>(dy) + row * d, x + row * d, w, mean[row], rstd[row], d, dx + row * d,
                   dw, db);
    } else {
      backward_row(static_cast<const float*>(dy) + row * d, x + row * d, w, mean[row], rstd[row], d, dx + row * d, dw,
                   db);
    }
  }
}

}  // namespace tips::kernels::avx512
