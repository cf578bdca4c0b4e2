// Private: one attention head of kernels/attention.h on raw pointers, compiled for AVX-512 in
// attention_avx512.cpp. q, k and v are bf16 bits at the head's first token, token t at `+ t * token_stride` (so
// they can point into a fused (B, N, 3D) projection); out, grad_out and the gradients likewise with their own
// strides. The products are AVX512-BF16 dot products with float32 sums; the scratch is per task (one head at a
// time), attention_head_scratch() floats.
#pragma once
#include <cstdint>

namespace tips::kernels::avx512 {

struct HeadShape {
  int64_t tokens = 0;      // N
  int64_t width = 0;       // d, even (the dot products take bf16 pairs)
  int64_t in_stride = 0;   // values between tokens in q, k, v (and their gradients); even, as width
  int64_t out_stride = 0;  // values between tokens in out (and grad_out); even
  float scale = 1.0f;      // the logits are scale * <q_i, k_j>
};

// Floats of scratch that one call of either function below needs for this shape.
int64_t attention_head_scratch(const HeadShape& s);

// out_i = sum_j softmax_j(scale <q_i, k_j>) v_j (the probabilities rounded to bf16 for the sum), rounded to bf16;
// lse[i] = log sum_j exp(scale <q_i, k_j>).
void attention_head_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const HeadShape& s, float* scratch,
                            uint16_t* out, float* lse);

// dq, dk, dv (bf16) from grad_out, recomputing the probabilities from q, k and the forward's lse.
void attention_head_backward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* grad_out,
                             const float* lse, const HeadShape& s, float* scratch, uint16_t* dq, uint16_t* dk,
                             uint16_t* dv);

}  // namespace tips::kernels::avx512
