// AVX-512 loop of kernels/scaled_exp.h; see avx512_impl.h for how these files are built.
#include <cstdint>

#include "avx512_impl.h"
#include "scaled_exp_rows.h"

namespace tips::kernels::avx512 {
namespace {

template <typename T>
void scaled_exp_loop(const T* x, float scale, int64_t begin, int64_t end, float* out) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t i = begin; i < end; i += kLanes) {
    const __mmask16 lanes = lanes_from(i, end);
    store(out, i, lanes, Sleef_expf16_u10(_mm512_mul_ps(load(x, i, lanes), s)));
  }
}

}  // namespace

void scaled_exp_range(const void* x, bool bf16, float scale, int64_t begin, int64_t end, float* out) {
  if (bf16) {
    scaled_exp_loop(static_cast<const uint16_t*>(x), scale, begin, end, out);
  } else {
    scaled_exp_loop(static_cast<const float*>(x), scale, begin, end, out);
  }
}

}  // namespace tips::kernels::avx512
