// AVX-512 loop of kernels/adamw.h; see avx512_impl.h for how these files are built. Plain products and sums (no
// fused multiply-add), in LibTorch's order, so that it rounds as the scalar loop does.
#include "adamw_rows.h"
#include "avx512_impl.h"

namespace tips::kernels::avx512 {

void adamw_range(float* p, const float* g, float* m, float* v, const AdamWCoefficients<float>& k, int64_t n) {
  const __m512 decay = _mm512_set1_ps(k.decay), b1 = _mm512_set1_ps(k.b1), b2 = _mm512_set1_ps(k.b2);
  const __m512 omb1 = _mm512_set1_ps(k.one_minus_b1), omb2 = _mm512_set1_ps(k.one_minus_b2);
  const __m512 sqrt_bc2 = _mm512_set1_ps(k.sqrt_bc2), eps = _mm512_set1_ps(k.eps);
  const __m512 neg_step = _mm512_set1_ps(k.neg_step_size), grad_scale = _mm512_set1_ps(k.grad_scale);
  for (int64_t i = 0; i < n; i += kLanes) {
    const __mmask16 lanes = lanes_from(i, n);
    const __m512 gi = k.scales ? _mm512_mul_ps(load(g, i, lanes), grad_scale) : load(g, i, lanes);
    __m512 pi = load(p, i, lanes);
    if (k.decays) pi = _mm512_mul_ps(pi, decay);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(load(m, i, lanes), b1), _mm512_mul_ps(omb1, gi));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(load(v, i, lanes), b2), _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi));
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), sqrt_bc2), eps);
    pi = _mm512_add_ps(pi, _mm512_mul_ps(neg_step, _mm512_div_ps(mi, denom)));
    store(p, i, lanes, pi);
    store(m, i, lanes, mi);
    store(v, i, lanes, vi);
  }
}

}  // namespace tips::kernels::avx512
