// Private helpers of src/kernels/*_avx512.cpp, the only files built with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// (outside the unity batches and the precompiled header, so no other code gets these instructions);
// kernels::fused_cpu_kernels() checks the CPU before anything in them runs. exp is Sleef's (the library ATen's own
// vectorised exp calls), accurate to 1 ulp.
#pragma once
#include <immintrin.h>
#include <sleef.h>

#include <cstdint>

namespace tips::kernels::avx512 {
namespace {  // each *_avx512.cpp gets its own copy: no AVX-512 symbol is shared with code built without it

constexpr int64_t kLanes = 16;

inline __mmask16 lanes_from(int64_t col, int64_t k) {
  const int64_t left = k - col;
  return left >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// bf16 is the upper half of a float32: widen and shift.
inline __m512 load(const uint16_t* row, int64_t col, __mmask16 lanes) {
  const __m256i half = _mm256_maskz_loadu_epi16(lanes, row + col);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
}
inline __m512 load(const float* row, int64_t col, __mmask16 lanes) { return _mm512_maskz_loadu_ps(lanes, row + col); }

// Round to nearest even, NaN kept a (quiet) NaN: what c10::BFloat16's conversion and ATen's casts do.
inline void store(uint16_t* row, int64_t col, __mmask16 lanes, __m512 v) {
  __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  bits = _mm512_mask_mov_epi32(bits, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(row + col, lanes, _mm512_cvtepi32_epi16(bits));
}
inline void store(float* row, int64_t col, __mmask16 lanes, __m512 v) { _mm512_mask_storeu_ps(row + col, lanes, v); }

// The largest of x[0, n) (-inf for n = 0), for float32 or bf16 rows.
template <typename T>
float row_max(const T* x, int64_t n) {
  __m512 m = _mm512_set1_ps(-__builtin_inff());
  for (int64_t c = 0; c < n; c += kLanes) {
    const __mmask16 lanes = lanes_from(c, n);
    m = _mm512_mask_max_ps(m, lanes, m, load(x, c, lanes));
  }
  return _mm512_reduce_max_ps(m);
}

}  // namespace
}  // namespace tips::kernels::avx512
