#include "tips/model/mlp.h"

#include "tips/kernels/gelu.h"

namespace tips::model {

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) : dim_(dim), hidden_(hidden) { reset(); }

void MlpImpl::reset() {
  fc1 = register_module("fc1", Linear(dim_, hidden_));
  fc2 = register_module("fc2", Linear(hidden_, dim_));
}

// The exact (erf) GELU; bf16 activations on CPU go through its table kernel (kernels/gelu.h).
torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return fc2(kernels::gelu(fc1(x))); }

SwiGluMlpImpl::SwiGluMlpImpl(int64_t dim, int64_t hidden) : dim_(dim), hidden_(hidden) { reset(); }

void SwiGluMlpImpl::reset() {
  w12 = register_module("w12", Linear(dim_, 2 * hidden_));
  w3 = register_module("w3", Linear(hidden_, dim_));
}

torch::Tensor SwiGluMlpImpl::forward(const torch::Tensor& x) {
  const auto ab = w12(x).chunk(2, /*dim=*/-1);  // 2 x (B, N, H)
  return w3(torch::silu(ab[0]) * ab[1]);
}

TextMlpImpl::TextMlpImpl(int64_t dim, int64_t hidden) : dim_(dim), hidden_(hidden) { reset(); }

void TextMlpImpl::reset() {
  c_fc = register_module("c_fc", Linear(dim_, hidden_));
  c_proj = register_module("c_proj", Linear(hidden_, dim_));
}

torch::Tensor TextMlpImpl::forward(const torch::Tensor& x, const torch::Tensor& keep) {
  auto h = torch::relu(c_fc(x));  // (B, L, M)
  if (!keep.defined()) return c_proj(h);
  TORCH_CHECK(keep.sizes() == x.sizes().slice(0, 2), "TextMlp: keep must be (B, L) = ", x.sizes().slice(0, 2),
              ", got ", keep.sizes());
  // The 0/1 mask in h's own dtype: under bf16 autocast h is bf16, and a float32 mask would promote the (B, L, M)
  // product to float32 only for c_proj to cast it back (both exact: the values are h or 0 either way).
  const auto k_hidden = keep.to(h.scalar_type()).unsqueeze(-1);  // (B, L, 1)
  const auto out = c_proj(h * k_hidden);                         // (B, L, D)
  return out * keep.to(out.scalar_type()).unsqueeze(-1);
}

}  // namespace tips::model
