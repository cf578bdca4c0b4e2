#include "tips/model/text_encoder.h"

#include <gtest/gtest.h>

#include <map>

#include "reference_impl.h"
#include "tips/model/length_buckets.h"

namespace {

using tips::model::TextConfig;
using tips::model::TextEncoder;
namespace ref = tips::model::ref;

using ref::tiny_text;

TEST(TextEncoder, KeysAndShapesEqualTheCheckpointSpec) {
  const TextConfig c = tiny_text();
  TextEncoder enc(c);
  std::map<std::string, std::vector<int64_t>> want{
      {"token_embedding.weight", {50, 8}}, {"ln_final.weight", {8}}, {"ln_final.bias", {8}}};
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "transformer.resblocks." + std::to_string(i) + ".";
    want[b + "ln_1.weight"] = {8};
    want[b + "ln_1.bias"] = {8};
    want[b + "attn.in_proj_weight"] = {24, 8};
    want[b + "attn.in_proj_bias"] = {24};
    want[b + "attn.out_proj.weight"] = {8, 8};
    want[b + "attn.out_proj.bias"] = {8};
    want[b + "ln_2.weight"] = {8};
    want[b + "ln_2.bias"] = {8};
    want[b + "mlp.c_fc.weight"] = {12, 8};
    want[b + "mlp.c_fc.bias"] = {12};
    want[b + "mlp.c_proj.weight"] = {8, 12};
    want[b + "mlp.c_proj.bias"] = {8};
  }
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& kv : enc->named_parameters()) got[kv.key()] = kv.value().sizes().vec();
  EXPECT_EQ(got, want);
}

TEST(TextEncoder, SinusoidalSignalMatchesTheFormula) {
  struct Case {
    int64_t L, D;
  };
  for (const Case c : {Case{5, 8}, Case{64, 384}, Case{3, 7}}) {
    SCOPED_TRACE(std::to_string(c.L) + "x" + std::to_string(c.D));
    const auto got = tips::model::sinusoidal_positions(c.L, c.D);
    ASSERT_EQ(got.sizes(), torch::IntArrayRef({1, c.L, c.D}));
    const int64_t n = c.D / 2;
    double worst = 0;
    for (int64_t pos = 0; pos < c.L; ++pos) {
      for (int64_t i = 0; i < n; ++i) {
        // timescale_i = 10000^(i / (n - 1)), geometric from 1 to 10000.
        const double arg = pos / std::pow(10000.0, static_cast<double>(i) / std::max<int64_t>(n - 1, 1));
        worst = std::max(worst, std::abs(got[0][pos][i].item<double>() - std::sin(arg)));
        worst = std::max(worst, std::abs(got[0][pos][n + i].item<double>() - std::cos(arg)));
      }
      if (c.D % 2 == 1) EXPECT_EQ(got[0][pos][c.D - 1].item<double>(), 0.0);
    }
    EXPECT_LT(worst, 5e-5);  // float32 arguments up to L
  }
}

// float64 re-implementation of the spec's text forward.
torch::Tensor reference_text(TextEncoder& enc, const torch::Tensor& ids) {
  auto P = enc->named_parameters();
  const auto& c = enc->config();
  const auto pad = ids == 0;
  const auto keep = pad.logical_not().to(torch::kDouble).unsqueeze(-1);
  auto x = P["token_embedding.weight"].index_select(0, ids.reshape({-1})).view({ids.size(0), ids.size(1), c.dim}) *
           std::sqrt(static_cast<double>(c.dim));
  x = x + tips::model::sinusoidal_positions(ids.size(1), c.dim).to(torch::kDouble);
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "transformer.resblocks." + std::to_string(i) + ".";
    x = x + ref::mha(ref::layer_norm(x, P[b + "ln_1.weight"], P[b + "ln_1.bias"], 1e-5), P[b + "attn.in_proj_weight"],
                     P[b + "attn.in_proj_bias"], P[b + "attn.out_proj.weight"], P[b + "attn.out_proj.bias"],
                     c.num_heads, pad);
    const auto h = torch::relu(ref::linear(ref::layer_norm(x, P[b + "ln_2.weight"], P[b + "ln_2.bias"], 1e-5),
                                           P[b + "mlp.c_fc.weight"], P[b + "mlp.c_fc.bias"])) *
                   keep;
    x = x + ref::linear(h, P[b + "mlp.c_proj.weight"], P[b + "mlp.c_proj.bias"]) * keep;
  }
  x = ref::layer_norm(x, P["ln_final.weight"], P["ln_final.bias"], 1e-5);
  return (x * keep).sum(1) / (keep.sum(1) + 1e-8);
}

TEST(TextEncoder, ForwardMatchesFloat64Reference) {
  TextEncoder enc(tiny_text(), /*seed=*/2);
  enc->to(torch::kDouble);
  ref::fill_deterministic(*enc);
  const auto ids = torch::tensor({5, 17, 3, 0, 0, 0, 42, 8, 9, 11, 1, 49, 7, 0, 0, 0}, torch::kLong).view({2, 8});
  torch::NoGradGuard no_grad;
  const auto got = enc->forward(ids);
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({2, 8}));
  EXPECT_TRUE(torch::allclose(got, reference_text(enc, ids), 1e-10, 1e-10));
}

TEST(TextEncoder, AppendedPaddingDoesNotChangeTheEmbedding) {
  TextEncoder enc(tiny_text(), /*seed=*/4);
  enc->eval();
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> captions{{5, 17, 3}, {9}, {1, 2, 3, 4, 5, 6}};
  for (const auto& cap : captions) {
    SCOPED_TRACE(cap.size());
    const auto short_ids = torch::tensor(cap, torch::kLong).unsqueeze(0);
    const auto padded = torch::cat({short_ids, torch::zeros({1, 8 - static_cast<int64_t>(cap.size()) + 3}, torch::kLong)}, 1);
    // forward_padded runs all the columns it is given; forward would trim the padding away before the model.
    EXPECT_TRUE(torch::allclose(enc->forward_padded(short_ids), enc->forward_padded(padded), 1e-5, 1e-6));
  }
  // Interior zeros are padding too: whatever the embedding row of id 0 holds, it never reaches the output.
  auto a = torch::tensor({{4, 0, 6, 0}}, torch::kLong);
  auto before = enc->forward_padded(a);
  {
    torch::NoGradGuard g;
    enc->token_embedding->weight[0].normal_();
  }
  EXPECT_TRUE(torch::allclose(enc->forward_padded(a), before, 1e-5, 1e-6));
}

// The buckets of forward against one padded batch, in float64: embeddings and every parameter's gradient.
TEST(TextEncoder, LengthBucketsGiveTheEmbeddingsAndGradientsOfOnePaddedBatch) {
  TextEncoder enc(tiny_text(), /*seed=*/5);
  enc->to(torch::kDouble);
  ref::fill_deterministic(*enc);
  // Short rows (alt-texts), long rows and an all-padding row, interleaved; 12 columns, at most 11 used.
  auto ids = torch::zeros({9, 12}, torch::kLong);
  const std::vector<int64_t> lengths{2, 11, 3, 0, 10, 1, 11, 2, 9};
  for (int64_t r = 0; r < 9; ++r)
    for (int64_t t = 0; t < lengths[r]; ++t) ids[r][t] = 1 + (7 * r + 3 * t) % 49;
  ids[4][5] = 0;  // an interior padding token
  // The batch must split, or the test compares forward_padded with itself.
  ASSERT_GE(tips::model::length_buckets(tips::model::valid_lengths(ids)).size(), 2u);
  const auto w = torch::randn({9, 8}, torch::kDouble);
  auto grads_of = [&](const torch::Tensor& out) {
    enc->zero_grad();
    (out * w).sum().backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : enc->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  const auto bucketed = enc->forward(ids);
  const auto padded = enc->forward_padded(ids);
  EXPECT_LT((bucketed - padded).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(bucketed[3].abs().max().item<double>(), 0.0);  // the all-padding row
  const auto g_bucketed = grads_of(enc->forward(ids));
  const auto g_padded = grads_of(enc->forward_padded(ids));
  for (size_t i = 0; i < g_padded.size(); ++i)
    EXPECT_LT((g_bucketed[i] - g_padded[i]).abs().max().item<double>(), 1e-12);
}

TEST(TextEncoder, AllPaddingRowIsZeroAndFinite) {
  TextEncoder enc(tiny_text(), /*seed=*/4);
  const auto ids = torch::tensor({{0, 0, 0, 0}, {3, 4, 0, 0}}, torch::kLong);
  const auto out = enc->forward(ids);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_EQ(out[0].abs().max().item<double>(), 0.0);
  EXPECT_GT(out[1].abs().max().item<double>(), 0.1);
  out.pow(2).sum().backward();
  for (const auto& p : enc->parameters()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
}

TEST(TextEncoder, GradientsMatchFiniteDifferences) {
  TextConfig c = tiny_text();
  c.dim = 4;
  c.mlp_hidden = 6;
  c.vocab_size = 10;
  TextEncoder enc(c, /*seed=*/1);
  enc->to(torch::kDouble);
  const auto ids = torch::tensor({{3, 7, 1, 0, 0}, {2, 9, 9, 4, 5}}, torch::kLong);
  const auto w = torch::randn({2, 4}, torch::kDouble);
  const auto loss_fn = [&] { return (enc->forward(ids) * w).sum(); };
  enc->zero_grad();
  loss_fn().backward();
  auto P = enc->named_parameters();
  for (const std::string name : {"token_embedding.weight", "transformer.resblocks.0.attn.in_proj_weight",
                                 "transformer.resblocks.1.attn.in_proj_bias", "transformer.resblocks.0.mlp.c_fc.weight",
                                 "transformer.resblocks.1.attn.out_proj.weight", "ln_final.bias"}) {
    SCOPED_TRACE(name);
    ref::expect_grad_matches_finite_differences(P[name], loss_fn, {3, P[name].numel() / 2 + 1, P[name].numel() - 1});
  }
}

TEST(TextEncoder, CloneCopiesWeights) {
  TextEncoder enc(tiny_text(), /*seed=*/6);
  auto copy = std::dynamic_pointer_cast<tips::model::TextEncoderImpl>(enc->clone());
  ASSERT_TRUE(copy);
  const auto ids = torch::tensor({{3, 7, 1, 0}}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(copy->forward(ids), enc->forward(ids)));
  copy->transformer->resblocks->ptr<tips::model::TextBlockImpl>(0)->mlp->c_fc->weight.normal_();  // (a constant shift would cancel on zero-mean LayerNorm outputs)
  EXPECT_FALSE(torch::allclose(copy->forward(ids), enc->forward(ids)));
}

TEST(TextEncoder, InitScales) {
  TextConfig c = tiny_text();
  c.dim = 64;
  c.num_heads = 4;
  c.vocab_size = 1000;
  TextEncoder enc(c, /*seed=*/3);
  EXPECT_NEAR(enc->token_embedding->weight.std().item<double>(), 1.0 / 8.0, 0.005);
  const auto& blk = *enc->transformer->resblocks->ptr<tips::model::TextBlockImpl>(0);
  EXPECT_NEAR(blk.attn->in_proj_weight.std().item<double>(), 0.02, 0.002);
  EXPECT_EQ(blk.attn->in_proj_bias.abs().max().item<double>(), 0.0);
}

}  // namespace
