// AVX-512 code of kernels/attention.h, one head at a time (see avx512_impl.h for how these files are built; this
// one also gets -mavx512bf16). Every product runs on AVX512-BF16's pairwise dot products (two bf16 products
// added into a float32 lane per step, twice what a float32 FMA does per instruction): the logits q k^T, the
// output p v, and backward's grad_out v^T, p^T grad_out, ds k and ds^T q. The softmax and its gradient are float32;
// p and ds are rounded to bf16 only as the products' inputs, where the composite rounds them too. Row lengths are
// padded to 16 lanes in the scratch, so any token count and even head width work.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "attention_rows.h"
#include "avx512_impl.h"

namespace tips::kernels::avx512 {
namespace {

int64_t padded(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

void narrow_rows(const float* src, int64_t rows, int64_t width, int64_t pitch, int64_t stride, uint16_t* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, width);
      store(dst + r * stride, c, lanes, _mm512_maskz_loadu_ps(lanes, src + r * pitch + c));
    }
}

// bf16 pairs (AVX512-BF16): step x multiplies a pair of A's columns (2x, 2x + 1), one 32-bit word, with a pair of
// B's rows, stored as one row of pair words (see pairs_transposed/_interleaved). A's word (i, x) is at
// a[i * row_step + x * col_step] words: bf16 rows read in place (col_step 1), or pair words of A's transpose.
struct Bf16PairOperands {
  const void* a;
  int64_t row_step, col_step;
  const int32_t* b;
  int64_t pitch;
  __m512i a_at(int64_t i, int64_t x) const {
    int32_t word;
    std::memcpy(&word, static_cast<const char*>(a) + 4 * (i * row_step + x * col_step), sizeof word);
    return _mm512_set1_epi32(word);
  }
  __m512i b_at(int64_t x, int64_t j) const { return _mm512_loadu_si512(b + x * pitch + j); }
  static __m512 madd(__m512 acc, __m512i av, __m512i bv) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(av), reinterpret_cast<__m512bh>(bv));
  }
};

// C rows [i, i + R) x vectors [j, j + V): R x V independent accumulators, enough to keep the vector units busy
// despite the multiply-add latency.
template <int R, int V>
void block(const Bf16PairOperands& ops, int64_t i, int64_t k, int64_t j, float* c) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t x = 0; x < k; ++x) {
    __m512i bv[V];
    for (int v = 0; v < V; ++v) bv[v] = ops.b_at(x, j + v * kLanes);
    for (int r = 0; r < R; ++r) {
      const auto av = ops.a_at(i + r, x);
      for (int v = 0; v < V; ++v) acc[r][v] = Bf16PairOperands::madd(acc[r][v], av, bv[v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + (i + r) * ops.pitch + j + v * kLanes, acc[r][v]);
}

template <int R>
void block_row(const Bf16PairOperands& ops, int64_t i, int64_t k, float* c) {
  int64_t j = 0;
  for (; j + 4 * kLanes <= ops.pitch; j += 4 * kLanes) block<R, 4>(ops, i, k, j, c);
  switch ((ops.pitch - j) / kLanes) {
    case 3:
      block<R, 3>(ops, i, k, j, c);
      break;
    case 2:
      block<R, 2>(ops, i, k, j, c);
      break;
    case 1:
      block<R, 1>(ops, i, k, j, c);
      break;
    default:
      break;
  }
}

// C (m x pitch floats) = A B over k steps; pitch a multiple of 16. Rows of C go 4 at a time when they are at most
// 2 vectors wide (a head's d = 32), else 2, so that a block has at least 8 accumulators.
void product(const Bf16PairOperands& ops, int64_t m, int64_t k, float* c) {
  int64_t i = 0;
  if (ops.pitch <= 2 * kLanes)
    for (; i + 4 <= m; i += 4) block_row<4>(ops, i, k, c);
  for (; i + 2 <= m; i += 2) block_row<2>(ops, i, k, c);
  if (i < m) block_row<1>(ops, i, k, c);
}

// bt (width / 2 x pitch words): bt[x][j] = the pair (b[j][2x], b[j][2x + 1]) of b's row j (`rows` rows of bf16,
// `stride` apart, stride and width even), 0 past `rows`: B^T as Bf16PairOperands reads it, gathered 16 rows at a time.
void pairs_transposed(const uint16_t* b, int64_t rows, int64_t width, int64_t stride, int64_t pitch, int32_t* bt) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j = 0; j < pitch; j += kLanes) {
    const __mmask16 lanes = j < rows ? lanes_from(j, rows) : static_cast<__mmask16>(0);
    const __m512i first_word = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(j)), lane),
                                                  _mm512_set1_epi32(static_cast<int32_t>(stride / 2)));
    for (int64_t x = 0; x < width / 2; ++x) {
      const __m512i idx = _mm512_add_epi32(first_word, _mm512_set1_epi32(static_cast<int32_t>(x)));
      _mm512_storeu_si512(bt + x * pitch + j, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, idx, b, 4));
    }
  }
}

// out ((rows + 1) / 2 x pitch words): out[x][c] = the pair (b[2x][c], b[2x + 1][c]), 0 past `rows` and `width`.
void pairs_interleaved(const uint16_t* b, int64_t rows, int64_t width, int64_t stride, int64_t pitch, int32_t* out) {
  for (int64_t x = 0; 2 * x < rows; ++x) {
    const uint16_t* even = b + 2 * x * stride;
    const bool has_odd = 2 * x + 1 < rows;
    for (int64_t c = 0; c < pitch; c += kLanes) {
      const __mmask16 lanes = lanes_from(c, width);
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, even + c));
      const __m512i hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(has_odd ? lanes : 0, even + stride + c));
      _mm512_storeu_si512(out + x * pitch + c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// e^x in float32 lanes to about 1 ulp, inline: Sleef's is an out-of-line call, and with no callee-saved vector
// registers a call per vector spills the loop's state. x = n ln2 + f with |f| <= ln2 / 2 (ln2 in two parts), e^f
// by its Taylor series to degree 7 (remainder under 6e-9 relative), times 2^n by scalef (0 below about -104,
// +inf above 89; NaN stays NaN).
inline __m512 exp_lanes(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // NaN in x is returned as is
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  f = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), f);
  __m512 e = _mm512_set1_ps(1.0f / 5040.0f);
  for (const float c : {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f})
    e = _mm512_fmadd_ps(e, f, _mm512_set1_ps(c));
  return _mm512_scalef_ps(e, n);
}

// row[0, n) = exp(scale * row - shift) (0 past n, up to pitch); returns the sum of the first n.
float exp_in_place(float* row, int64_t n, int64_t pitch, float scale, float shift) {
  const __m512 s = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t c = 0; c < pitch; c += kLanes) {
    const __mmask16 lanes = c < n ? lanes_from(c, n) : static_cast<__mmask16>(0);
    const __m512 e = _mm512_maskz_mov_ps(lanes, exp_lanes(_mm512_fmsub_ps(_mm512_loadu_ps(row + c), s, sh)));
    _mm512_storeu_ps(row + c, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

// row *= factor, and its bf16 copy (pitch values) into row_bf16.
void scale_row(float* row, int64_t pitch, float factor, uint16_t* row_bf16) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int64_t c = 0; c < pitch; c += kLanes) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(row + c), f);
    _mm512_storeu_ps(row + c, v);
    store(row_bf16, c, 0xFFFF, v);
  }
}

// ds = scale * p * (dp - <p, dp>) over the row, in place of dp (p and dp are 0 past the tokens).
void softmax_grad_row(const float* p, float* dp, int64_t pitch, float scale) {
  __m512 dot = _mm512_setzero_ps();
  for (int64_t c = 0; c < pitch; c += kLanes)
    dot = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), _mm512_loadu_ps(dp + c), dot);
  const __m512 d = _mm512_set1_ps(_mm512_reduce_add_ps(dot)), s = _mm512_set1_ps(scale);
  for (int64_t c = 0; c < pitch; c += kLanes) {
    const __m512 diff = _mm512_sub_ps(_mm512_loadu_ps(dp + c), d);
    _mm512_storeu_ps(dp + c, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(p + c), diff), s));
  }
}

}  // namespace

int64_t attention_head_scratch(const HeadShape& s) {
  const int64_t n = s.tokens, np = padded(n), dp = padded(s.width), half = s.width / 2;
  const int64_t forward = half * np + np / 2 * dp + n * np + n * np / 2 + n * dp;
  const int64_t backward = 2 * half * np + 3 * np / 2 * dp + 3 * n * np + np * np + n * dp;
  return std::max(forward, backward);
}

void attention_head_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const HeadShape& s, float* scratch,
                            uint16_t* out, float* lse) {
  const int64_t n = s.tokens, d = s.width, np = padded(n), dp = padded(d);
  auto* kt = reinterpret_cast<int32_t*>(scratch);        // d/2 x np pair words: k^T
  int32_t* vp = kt + d / 2 * np;                         // np/2 x dp pair words: v's rows in pairs
  auto* p = reinterpret_cast<float*>(vp + np / 2 * dp);  // n x np: the logits, then the probabilities
  auto* pb = reinterpret_cast<uint16_t*>(p + n * np);    // n x np: the probabilities in bf16
  auto* o = reinterpret_cast<float*>(pb + n * np);       // n x dp
  pairs_transposed(k, n, d, s.in_stride, np, kt);
  pairs_interleaved(v, n, d, s.in_stride, dp, vp);
  product(Bf16PairOperands{q, s.in_stride / 2, 1, kt, np}, n, d / 2, p);
  for (int64_t i = 0; i < n; ++i) {
    float* row = p + i * np;
    const float shift = row_max(row, n) * s.scale;
    const float sum = exp_in_place(row, n, np, s.scale, shift);
    scale_row(row, np, 1.0f / sum, pb + i * np);
    lse[i] = shift + std::log(sum);
  }
  product(Bf16PairOperands{pb, np / 2, 1, vp, dp}, n, (n + 1) / 2, o);
  narrow_rows(o, n, d, dp, s.out_stride, out);
}

namespace {

// The backward's scratch, carved from one buffer (4-byte units).
struct BackwardScratch {
  int32_t *kt, *vt;       // d/2 x np pair words: k^T, v^T
  int32_t *kp, *qp, *gp;  // np/2 x dp pair words: the rows of k, q, grad_out in pairs
  float *p, *ds;          // n x np: probabilities; d(probabilities), then scale * d(logits)
  uint16_t *pb, *dsb;     // n x np: both in bf16
  int32_t *pt, *dst;      // np/2 x np pair words: the bf16 rows of p and ds in pairs (their transposes as A)
  float* grad;            // n x dp: dv, dq, dk in turn
};

BackwardScratch carve(float* scratch, int64_t n, int64_t d, int64_t np, int64_t dp) {
  BackwardScratch b{};
  b.kt = reinterpret_cast<int32_t*>(scratch);
  b.vt = b.kt + d / 2 * np;
  b.kp = b.vt + d / 2 * np;
  b.qp = b.kp + np / 2 * dp;
  b.gp = b.qp + np / 2 * dp;
  b.p = reinterpret_cast<float*>(b.gp + np / 2 * dp);
  b.ds = b.p + n * np;
  b.pb = reinterpret_cast<uint16_t*>(b.ds + n * np);
  b.dsb = b.pb + n * np;
  b.pt = reinterpret_cast<int32_t*>(b.dsb + n * np);
  b.dst = b.pt + np / 2 * np;
  b.grad = reinterpret_cast<float*>(b.dst + np / 2 * np);
  return b;
}

}  // namespace

void attention_head_backward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* grad_out,
                             const float* lse, const HeadShape& s, float* scratch, uint16_t* dq, uint16_t* dk,
                             uint16_t* dv) {
  const int64_t n = s.tokens, d = s.width, np = padded(n), dp = padded(d), pairs = (n + 1) / 2;
  const auto w = carve(scratch, n, d, np, dp);
  pairs_transposed(k, n, d, s.in_stride, np, w.kt);
  pairs_transposed(v, n, d, s.in_stride, np, w.vt);
  pairs_interleaved(k, n, d, s.in_stride, dp, w.kp);
  pairs_interleaved(q, n, d, s.in_stride, dp, w.qp);
  pairs_interleaved(grad_out, n, d, s.out_stride, dp, w.gp);
  product(Bf16PairOperands{q, s.in_stride / 2, 1, w.kt, np}, n, d / 2, w.p);
  product(Bf16PairOperands{grad_out, s.out_stride / 2, 1, w.vt, np}, n, d / 2, w.ds);
  for (int64_t i = 0; i < n; ++i) {
    exp_in_place(w.p + i * np, n, np, s.scale, lse[i]);
    softmax_grad_row(w.p + i * np, w.ds + i * np, np, s.scale);
    for (int64_t c = 0; c < np; c += kLanes) {
      store(w.pb + i * np, c, 0xFFFF, _mm512_loadu_ps(w.p + i * np + c));
      store(w.dsb + i * np, c, 0xFFFF, _mm512_loadu_ps(w.ds + i * np + c));
    }
  }
  pairs_interleaved(w.pb, n, np, np, np, w.pt);
  pairs_interleaved(w.dsb, n, np, np, np, w.dst);
  product(Bf16PairOperands{w.pt, 1, np, w.gp, dp}, n, pairs, w.grad);  // dv = p^T grad_out
  narrow_rows(w.grad, n, d, dp, s.in_stride, dv);
  product(Bf16PairOperands{w.dsb, np / 2, 1, w.kp, dp}, n, pairs, w.grad);  // dq = ds k
  narrow_rows(w.grad, n, d, dp, s.in_stride, dq);
  product(Bf16PairOperands{w.dst, 1, np, w.qp, dp}, n, pairs, w.grad);  // dk = ds^T q
  narrow_rows(w.grad, n, d, dp, s.in_stride, dk);
}

}  // namespace tips::kernels::avx512
