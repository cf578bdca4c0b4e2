// AVX-512 row loops of kernels/scaled_residual.h; see avx512_impl.h for how these files are built. A row is read in
// 16-lane vectors with a masked tail, so any width works.
#include <cstdint>

#include "avx512_impl.h"
#include "scaled_residual_rows.h"

namespace tips::kernels::avx512 {

void scaled_residual_forward_rows(const float* x, const uint16_t* branch, const float* gamma, int64_t d, int64_t begin,
                                  int64_t end, float* out) {
  for (int64_t r = begin; r < end; ++r)
    for (int64_t c = 0; c < d; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, d);
      const __m512 sum =
          _mm512_fmadd_ps(load(branch + r * d, c, lanes), load(gamma, c, lanes), load(x + r * d, c, lanes));
      store(out + r * d, c, lanes, sum);
    }
}

void scaled_residual_backward_rows(const float* grad, const uint16_t* branch, const float* gamma, int64_t d,
                                   int64_t begin, int64_t end, uint16_t* grad_branch, float* gamma_sums) {
  for (int64_t r = begin; r < end; ++r)
    for (int64_t c = 0; c < d; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, d);
      const __m512 g = load(grad + r * d, c, lanes);
      store(grad_branch + r * d, c, lanes, _mm512_mul_ps(g, load(gamma, c, lanes)));
      store(gamma_sums, c, lanes, _mm512_fmadd_ps(g, load(branch + r * d, c, lanes), load(gamma_sums, c, lanes)));
    }
}

}  // namespace tips::kernels::avx512
