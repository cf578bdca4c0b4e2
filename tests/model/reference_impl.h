// tests/model/reference_impl.h - float64 reference math for the model tests, written from the formulas in
// docs/checkpoint_format.md with plain tensor ops (no torch::nn modules, no compat SDPA), plus a
// deterministic weight filler shared with the python parity script.
//
// Legend: B batch, N tokens, D width, H heads.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tips/model/config.h"

namespace tips::model::ref {

// The small towers most tests use: D 8, depth 2, 2 heads, MLP 12; vision patch 2 on a 3x3 table, text vocab 50.
inline VisionConfig tiny_vision(FfnKind ffn = FfnKind::kGelu) {
  VisionConfig c;
  c.patch_size = 2;
  c.dim = 8;
  c.depth = 2;
  c.num_heads = 2;
  c.mlp_hidden = 12;
  c.ffn = ffn;
  c.pos_grid = 3;
  c.layerscale_init = 0.5;
  return c;
}

inline TextConfig tiny_text() {
  TextConfig c;
  c.dim = 8;
  c.depth = 2;
  c.num_heads = 2;
  c.mlp_hidden = 12;
  c.vocab_size = 50;
  c.max_len = 8;
  return c;
}

// Compares param.grad() (already filled by a backward of loss_fn()) with central finite differences of
// loss_fn() at the given flat indices. float64 parameters expected.
inline void expect_grad_matches_finite_differences(torch::Tensor param, const std::function<torch::Tensor()>& loss_fn,
                                                   const std::vector<int64_t>& indices) {
  const auto flat = param.view({-1});
  for (const int64_t idx : indices) {
    double numeric;
    {
      torch::NoGradGuard no_grad;
      const double eps = 1e-6, orig = flat[idx].item<double>();
      flat[idx] = orig + eps;
      const double up = loss_fn().item<double>();
      flat[idx] = orig - eps;
      const double down = loss_fn().item<double>();
      flat[idx] = orig;
      numeric = (up - down) / (2 * eps);
    }
    EXPECT_NEAR(param.grad().view({-1})[idx].item<double>(), numeric, 1e-6 + 1e-5 * std::abs(numeric)) << "index " << idx;
  }
}

inline torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double eps) {
  const auto mu = x.mean(-1, true);
  const auto var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) / torch::sqrt(var + eps) * w + b;
}

inline torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::matmul(x, w.t()) + b;
}

inline torch::Tensor gelu_exact(const torch::Tensor& x) { return 0.5 * x * (1.0 + torch::erf(x / std::sqrt(2.0))); }

// Multi-head attention of x (B, N, D) with fused qkv weights, optional bool pad (B, N) (true = ignored key),
// then the output projection. Rows with every key padded attend to all keys (the documented guard).
inline torch::Tensor mha(const torch::Tensor& x, const torch::Tensor& w_qkv, const torch::Tensor& b_qkv,
                         const torch::Tensor& w_o, const torch::Tensor& b_o, int64_t heads,
                         const torch::Tensor& pad = {}) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), d = D / heads;
  const auto qkv = linear(x, w_qkv, b_qkv);
  std::vector<torch::Tensor> outs;
  for (int64_t h = 0; h < heads; ++h) {
    const auto q = qkv.narrow(2, h * d, d), k = qkv.narrow(2, D + h * d, d), v = qkv.narrow(2, 2 * D + h * d, d);
    auto s = torch::matmul(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(d));  // (B, N, N)
    if (pad.defined()) {
      for (int64_t b = 0; b < B; ++b) {
        if (pad[b].all().item<bool>()) continue;
        s[b].masked_fill_(pad[b].unsqueeze(0).expand({N, N}), -std::numeric_limits<double>::infinity());
      }
    }
    const auto e = torch::exp(s - std::get<0>(s.max(-1, true)));
    outs.push_back(torch::matmul(e / e.sum(-1, true), v));
  }
  return linear(torch::cat(outs, 2), w_o, b_o);
}

// Fills every parameter with value(name, flat index): 0.05 * sin(0.37 * idx + 0.11 * len(name) + 0.3 * c0)
// where c0 is the name's first character code, plus 1 for LayerNorm weights. The python parity script
// (tests/model/make_parity_values.py) uses the same formula.
inline void fill_deterministic(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& kv : m.named_parameters()) {
    const std::string& name = kv.key();
    const auto n = kv.value().numel();
    const auto idx = torch::arange(n, torch::kDouble);
    auto v = 0.05 * torch::sin(0.37 * idx + 0.11 * static_cast<double>(name.size()) + 0.3 * static_cast<double>(name[0]));
    const bool ln_weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
                           (name.find("norm") != std::string::npos || name.find("ln_") != std::string::npos);
    if (ln_weight) v = v + 1.0;
    kv.value().copy_(v.view(kv.value().sizes()));
  }
}

}  // namespace tips::model::ref
