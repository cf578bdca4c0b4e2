// AVX-512 loops of kernels/gelu.h (16 table gathers per instruction); see avx512_impl.h for how these files are
// built.
#include <cstdint>

#include "avx512_impl.h"
#include "gelu_rows.h"

namespace tips::kernels::avx512 {
namespace {

// The 16 bf16 bit patterns at x + i as table indices (zero-extended to 32 bits; masked lanes read entry 0).
__m512i indices(const uint16_t* x, int64_t i, __mmask16 lanes) {
  return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, x + i));
}

__m512 gather(const float* table, __m512i idx, __mmask16 lanes) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, idx, table, 4);
}

}  // namespace

void gelu_forward_range(const uint16_t* x, const float* value_table, int64_t begin, int64_t end, uint16_t* out) {
  for (int64_t i = begin; i < end; i += kLanes) {
    const __mmask16 lanes = lanes_from(i, end);
    store(out, i, lanes, gather(value_table, indices(x, i, lanes), lanes));  // exact: the entries are bf16 values
  }
}

void gelu_backward_range(const uint16_t* grad, const uint16_t* x, const float* slope_table, int64_t begin, int64_t end,
                         uint16_t* out) {
  for (int64_t i = begin; i < end; i += kLanes) {
    const __mmask16 lanes = lanes_from(i, end);
    const __m512 slope = gather(slope_table, indices(x, i, lanes), lanes);
    store(out, i, lanes, _mm512_mul_ps(load(grad, i, lanes), slope));
  }
}

}  // namespace tips::kernels::avx512
