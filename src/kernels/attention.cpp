#include "tips/kernels/attention.h"

#include <cmath>
#include <vector>

#include "attention_rows.h"
#include "bf16_data_impl.h"
#include "parallel_impl.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::kernels {
namespace {

#if TIPS_HAVE_CPU_KERNELS
avx512::HeadShape head_shape(const torch::Tensor& qkv, int64_t num_heads) {
  const int64_t d_model = qkv.size(2) / 3, width = d_model / num_heads;
  return {qkv.size(1), width, qkv.size(2), d_model, static_cast<float>(1.0 / std::sqrt(static_cast<double>(width)))};
}

// Runs fn(b, h, scratch) for every (sample, head), in parallel over them; each task has its own scratch.
template <typename Fn>
void for_each_head(int64_t batch, int64_t num_heads, const avx512::HeadShape& shape, const Fn& fn) {
  detail::parallel_for(0, batch * num_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(avx512::attention_head_scratch(shape)));
    for (int64_t bh = begin; bh < end; ++bh) fn(bh / num_heads, bh % num_heads, scratch.data());
  });
}
#endif

struct FusedQkvAttention : torch::autograd::Function<FusedQkvAttention> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv, int64_t num_heads) {
    auto rows = qkv_attention_forward(qkv, num_heads);
    ctx->save_for_backward({qkv, rows.lse});
    ctx->saved_data["num_heads"] = num_heads;
    return rows.out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const int64_t num_heads = ctx->saved_data["num_heads"].toInt();
    const auto g = grads[0].to(torch::kBFloat16);  // autograd hands back the output's dtype; a no-op then
    return {qkv_attention_backward(g, saved[0], saved[1], num_heads), torch::Tensor()};
  }
};

// AVX512-BF16 (Zen 4, Cooper Lake and later), on top of what fused_cpu_kernels() checks.
bool cpu_has_bf16_dot_products() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
#else
  return false;
#endif
}

void check_qkv(const torch::Tensor& qkv, int64_t num_heads, const char* what) {
  TORCH_CHECK(fused_attention_applies(qkv, num_heads), what, ": needs a bf16 CPU qkv (B, N, 3D) with D / num_heads ",
              "even (num_heads=", num_heads, "), the fused kernels and AVX512-BF16, got ", qkv.sizes(), " ",
              qkv.scalar_type(), " on ", qkv.device());
}

}  // namespace

bool fused_attention_applies(const torch::Tensor& qkv, int64_t num_heads) {
  if (!fused_cpu_kernels() || !cpu_has_bf16_dot_products() || !qkv.defined() || !qkv.device().is_cpu() ||
      qkv.scalar_type() != torch::kBFloat16 || qkv.dim() != 3 || num_heads <= 0 || qkv.size(1) == 0)
    return false;
  const int64_t three_d = qkv.size(2);
  return three_d > 0 && three_d % (3 * num_heads) == 0 && (three_d / (3 * num_heads)) % 2 == 0;  // even head width
}

torch::Tensor qkv_attention(const torch::Tensor& qkv, int64_t num_heads) {
  check_qkv(qkv, num_heads, "qkv_attention");
  return FusedQkvAttention::apply(qkv, num_heads);
}

AttentionRows qkv_attention_forward(const torch::Tensor& qkv, int64_t num_heads) {
  check_qkv(qkv, num_heads, "qkv_attention_forward");
  const auto in = qkv.contiguous();
  const int64_t batch = in.size(0), tokens = in.size(1), d_model = in.size(2) / 3;
  AttentionRows rows{torch::empty({batch, tokens, d_model}, in.options()),
                     torch::empty({batch, num_heads, tokens}, in.options().dtype(torch::kFloat))};
#if TIPS_HAVE_CPU_KERNELS
  const auto shape = head_shape(in, num_heads);
  const uint16_t* base = detail::bf16_data(in);
  uint16_t* out = detail::mutable_bf16_data(rows.out);
  float* lse = rows.lse.data_ptr<float>();
  for_each_head(batch, num_heads, shape, [&](int64_t b, int64_t h, float* scratch) {
    const uint16_t* q = base + b * tokens * shape.in_stride + h * shape.width;
    avx512::attention_head_forward(q, q + d_model, q + 2 * d_model, shape, scratch,
                                   out + b * tokens * d_model + h * shape.width, lse + (b * num_heads + h) * tokens);
  });
#endif
  return rows;
}

torch::Tensor qkv_attention_backward(const torch::Tensor& grad_out, const torch::Tensor& qkv, const torch::Tensor& lse,
                                     int64_t num_heads) {
  check_qkv(qkv, num_heads, "qkv_attention_backward");
  const int64_t batch = qkv.size(0), tokens = qkv.size(1), d_model = qkv.size(2) / 3;
  TORCH_CHECK(grad_out.sizes() == torch::IntArrayRef({batch, tokens, d_model}) &&
                  grad_out.scalar_type() == torch::kBFloat16 && grad_out.device().is_cpu() &&
                  lse.sizes() == torch::IntArrayRef({batch, num_heads, tokens}) && lse.scalar_type() == torch::kFloat,
              "qkv_attention_backward: grad_out ", grad_out.sizes(), " ", grad_out.scalar_type(), " and lse ",
              lse.sizes(), " do not match qkv ", qkv.sizes(), " with ", num_heads, " heads");
  const auto in = qkv.contiguous(), g = grad_out.contiguous(), row_lse = lse.contiguous();
  auto grad_qkv = torch::empty_like(in);
#if TIPS_HAVE_CPU_KERNELS
  const auto shape = head_shape(in, num_heads);
  const uint16_t* base = detail::bf16_data(in);
  const uint16_t* go = detail::bf16_data(g);
  uint16_t* dbase = detail::mutable_bf16_data(grad_qkv);
  const float* lse_rows = row_lse.data_ptr<float>();
  for_each_head(batch, num_heads, shape, [&](int64_t b, int64_t h, float* scratch) {
    const int64_t first = b * tokens * shape.in_stride + h * shape.width;  // the head's q at token 0
    const uint16_t* q = base + first;
    uint16_t* dq = dbase + first;
    avx512::attention_head_backward(q, q + d_model, q + 2 * d_model, go + b * tokens * d_model + h * shape.width,
                                    lse_rows + (b * num_heads + h) * tokens, shape, scratch, dq, dq + d_model,
                                    dq + 2 * d_model);
  });
#endif
  return grad_qkv;
}

}  // namespace tips::kernels
