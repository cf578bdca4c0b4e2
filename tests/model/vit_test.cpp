#include "tips/model/vit.h"

#include <gtest/gtest.h>

#include <map>

#include "reference_impl.h"
#include "tips/core/compat.h"
#include "tips/core/rng.h"

namespace {

using tips::model::FfnKind;
using tips::model::VisionConfig;
using tips::model::VisionOutput;
using tips::model::VisionTransformer;
namespace ref = tips::model::ref;

VisionConfig tiny_config(FfnKind ffn = FfnKind::kGelu) { return ref::tiny_vision(ffn); }

std::map<std::string, std::vector<int64_t>> shapes_of(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& kv : m.named_parameters()) out[kv.key()] = kv.value().sizes().vec();
  return out;
}

// The spec table (docs/checkpoint_format.md), written out for D, depth, hidden, patch, grid.
std::map<std::string, std::vector<int64_t>> spec_keys(const VisionConfig& c) {
  const int64_t D = c.dim, M = c.mlp_hidden, p = c.patch_size, G = c.pos_grid;
  std::map<std::string, std::vector<int64_t>> k{
      {"cls_token", {1, 1, D}}, {"pos_embed", {1, 1 + G * G, D}}, {"register_tokens", {1, 1, D}},
      {"mask_token", {1, D}},  {"patch_embed.proj.weight", {D, 3, p, p}}, {"patch_embed.proj.bias", {D}},
      {"norm.weight", {D}},    {"norm.bias", {D}}};
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    k[b + "norm1.weight"] = {D};
    k[b + "norm1.bias"] = {D};
    k[b + "attn.qkv.weight"] = {3 * D, D};
    k[b + "attn.qkv.bias"] = {3 * D};
    k[b + "attn.proj.weight"] = {D, D};
    k[b + "attn.proj.bias"] = {D};
    k[b + "ls1.gamma"] = {D};
    k[b + "norm2.weight"] = {D};
    k[b + "norm2.bias"] = {D};
    if (c.ffn == FfnKind::kGelu) {
      k[b + "mlp.fc1.weight"] = {M, D};
      k[b + "mlp.fc1.bias"] = {M};
      k[b + "mlp.fc2.weight"] = {D, M};
      k[b + "mlp.fc2.bias"] = {D};
    } else {
      k[b + "mlp.w12.weight"] = {2 * M, D};
      k[b + "mlp.w12.bias"] = {2 * M};
      k[b + "mlp.w3.weight"] = {D, M};
      k[b + "mlp.w3.bias"] = {D};
    }
    k[b + "ls2.gamma"] = {D};
  }
  return k;
}

TEST(VisionTransformer, KeysAndShapesEqualTheCheckpointSpec) {
  for (const FfnKind ffn : {FfnKind::kGelu, FfnKind::kSwiGlu}) {
    SCOPED_TRACE(ffn == FfnKind::kGelu ? "gelu" : "swiglu");
    VisionTransformer vit(tiny_config(ffn));
    EXPECT_EQ(shapes_of(*vit), spec_keys(vit->config()));
  }
}

TEST(VisionTransformer, LayerIdOfEachParameterGroup) {
  VisionTransformer vit(tiny_config());
  const std::pair<const char*, int64_t> cases[] = {
      {"cls_token", -1}, {"pos_embed", -1}, {"register_tokens", -1}, {"mask_token", -1},
      {"patch_embed.proj.weight", -1}, {"blocks.0.attn.qkv.weight", 0}, {"blocks.1.ls2.gamma", 1},
      {"norm.bias", 2}};
  for (const auto& [name, id] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(vit->layer_id(name), id);
  }
  for (const auto& kv : vit->named_parameters()) EXPECT_NO_THROW(vit->layer_id(kv.key())) << kv.key();
  for (const char* bad : {"blocks.2.norm1.weight", "blocks.x.norm1.weight", "head.weight", "blocks.1"}) {
    EXPECT_THROW(vit->layer_id(bad), std::invalid_argument) << bad;
  }
}

TEST(VisionTransformer, InitFollowsTheDocumentedScheme) {
  VisionConfig c = tiny_config();
  c.dim = 64;
  c.num_heads = 4;
  c.mlp_hidden = 256;
  c.pos_grid = 16;
  c.layerscale_init = 1e-5;
  VisionTransformer a(c, /*seed=*/7), b(c, /*seed=*/7), other(c, /*seed=*/8);
  const auto w = a->block(0).attn->qkv->weight;
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(a->pos_embed.std().item<double>(), 0.02, 0.001);
  EXPECT_EQ(a->block(0).attn->qkv->bias.abs().max().item<double>(), 0.0);
  EXPECT_LT(a->cls_token.abs().max().item<double>(), 1e-5);
  EXPECT_GT(a->cls_token.abs().max().item<double>(), 0.0);
  EXPECT_EQ(a->mask_token.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(a->block(1).ls2->gamma, torch::full({64}, 1e-5)));
  for (const auto& kv : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(kv.value(), b->named_parameters()[kv.key()])) << kv.key();  // same seed, same init
  }
  EXPECT_FALSE(torch::equal(a->pos_embed, other->pos_embed));
}

TEST(VisionTransformer, OutputShapesSquareAndNonSquare) {
  VisionTransformer vit(tiny_config());
  vit->eval();
  struct Case {
    int64_t B, H, W;
  };
  for (const Case c : {Case{2, 6, 6}, Case{1, 4, 10}, Case{3, 8, 2}, Case{1, 2, 2}}) {
    SCOPED_TRACE(std::to_string(c.H) + "x" + std::to_string(c.W));
    const VisionOutput o = vit->forward(torch::rand({c.B, 3, c.H, c.W}), {}, /*dense_readouts=*/true);
    const int64_t N = (c.H / 2) * (c.W / 2);
    EXPECT_EQ(o.cls1.sizes(), torch::IntArrayRef({c.B, 8}));
    EXPECT_EQ(o.cls2.sizes(), torch::IntArrayRef({c.B, 8}));
    EXPECT_EQ(o.patches.sizes(), torch::IntArrayRef({c.B, N, 8}));
    EXPECT_EQ(o.value_patches.sizes(), torch::IntArrayRef({c.B, N, 8}));
    EXPECT_TRUE(torch::isfinite(o.patches).all().item<bool>());
  }
  EXPECT_THROW(vit->forward(torch::rand({1, 3, 5, 6})), c10::Error);
}

// Full forward against a float64 re-implementation from the spec (no nn modules, explicit softmax).
// What every token writes into token 0's output through multi-head attention, head by head: for head h,
// softmax(q_0 k^T / sqrt(d))_j * v_j W_o[:, head h]^T; the heads summed. (B, N, D), no bias.
torch::Tensor reference_cls_terms(const torch::Tensor& y, const torch::Tensor& w_qkv, const torch::Tensor& b_qkv,
                                  const torch::Tensor& w_o, int64_t heads) {
  const int64_t D = y.size(2), d = D / heads;
  const auto qkv = ref::linear(y, w_qkv, b_qkv);
  auto terms = torch::zeros_like(y);
  for (int64_t h = 0; h < heads; ++h) {
    const auto q0 = qkv.narrow(1, 0, 1).narrow(2, h * d, d), k = qkv.narrow(2, D + h * d, d);
    const auto v = qkv.narrow(2, 2 * D + h * d, d);
    const auto a = torch::softmax(torch::matmul(q0, k.transpose(1, 2)) / std::sqrt(static_cast<double>(d)), -1);
    terms += a.transpose(1, 2) * torch::matmul(v, w_o.narrow(1, h * d, d).t());
  }
  return terms;
}

// The final LayerNorm's derivative at `at` (B, 1, D) along each row of c (B, N, D), by central differences along
// the unit direction (scaled back by the row's norm: the derivative is linear in c).
torch::Tensor reference_linearised_norm(const torch::Tensor& at, const torch::Tensor& c, const torch::Tensor& w,
                                        const torch::Tensor& b) {
  const double eps = 1e-5;
  const auto length = c.norm(2, -1, /*keepdim=*/true);
  const auto unit = c / length;
  return length * (ref::layer_norm(at + eps * unit, w, b, 1e-6) - ref::layer_norm(at - eps * unit, w, b, 1e-6)) /
         (2 * eps);
}

VisionOutput reference_forward(VisionTransformer& vit, const torch::Tensor& img, const torch::Tensor& mask) {
  auto P = vit->named_parameters();
  const auto& c = vit->config();
  const int64_t B = img.size(0), h = img.size(2) / c.patch_size, w = img.size(3) / c.patch_size;
  auto x = torch::conv2d(img, P["patch_embed.proj.weight"], P["patch_embed.proj.bias"], c.patch_size)
               .flatten(2)
               .transpose(1, 2);  // (B, N, D)
  if (mask.defined()) x = torch::where(mask.unsqueeze(-1), P["mask_token"].expand_as(x), x);
  const auto pos = tips::model::resize_pos_embed(P["pos_embed"], h, w);
  x = torch::cat({P["cls_token"].expand({B, 1, c.dim}) + pos.narrow(1, 0, 1), P["register_tokens"].expand({B, 1, c.dim}),
                  x + pos.narrow(1, 1, h * w)},
                 1);
  torch::Tensor values, attribution = torch::zeros({B, h * w, c.dim}, x.options());
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    const auto mlp = [&](const torch::Tensor& y) {
      if (c.ffn == FfnKind::kGelu)
        return ref::linear(ref::gelu_exact(ref::linear(y, P[b + "mlp.fc1.weight"], P[b + "mlp.fc1.bias"])),
                           P[b + "mlp.fc2.weight"], P[b + "mlp.fc2.bias"]);
      const auto ab = ref::linear(y, P[b + "mlp.w12.weight"], P[b + "mlp.w12.bias"]);
      const auto a = ab.narrow(2, 0, c.mlp_hidden), g = ab.narrow(2, c.mlp_hidden, c.mlp_hidden);
      return ref::linear(a * torch::sigmoid(a) * g, P[b + "mlp.w3.weight"], P[b + "mlp.w3.bias"]);
    };
    const auto n1 = ref::layer_norm(x, P[b + "norm1.weight"], P[b + "norm1.bias"], 1e-6);
    if (i == c.depth - 1) {  // value trick: proj(v) per token
      const auto v = ref::linear(n1, P[b + "attn.qkv.weight"].narrow(0, 2 * c.dim, c.dim),
                                 P[b + "attn.qkv.bias"].narrow(0, 2 * c.dim, c.dim));
      auto y = x + P[b + "ls1.gamma"] * ref::linear(v, P[b + "attn.proj.weight"], P[b + "attn.proj.bias"]);
      y = y + P[b + "ls2.gamma"] * mlp(ref::layer_norm(y, P[b + "norm2.weight"], P[b + "norm2.bias"], 1e-6));
      values = ref::layer_norm(y, P["norm.weight"], P["norm.bias"], 1e-6).narrow(1, 2, h * w);
    }
    attribution += P[b + "ls1.gamma"] * reference_cls_terms(n1, P[b + "attn.qkv.weight"], P[b + "attn.qkv.bias"],
                                                            P[b + "attn.proj.weight"], c.num_heads)
                                            .narrow(1, 2, h * w);
    x = x + P[b + "ls1.gamma"] * ref::mha(n1, P[b + "attn.qkv.weight"], P[b + "attn.qkv.bias"],
                                          P[b + "attn.proj.weight"], P[b + "attn.proj.bias"], c.num_heads);
    x = x + P[b + "ls2.gamma"] * mlp(ref::layer_norm(x, P[b + "norm2.weight"], P[b + "norm2.bias"], 1e-6));
  }
  attribution = reference_linearised_norm(x.narrow(1, 0, 1), attribution, P["norm.weight"], P["norm.bias"]);
  x = ref::layer_norm(x, P["norm.weight"], P["norm.bias"], 1e-6);
  VisionOutput out{x.select(1, 0), x.select(1, 1), x.narrow(1, 2, h * w), values};
  out.attribution_patches = attribution;
  return out;
}

TEST(VisionTransformer, ForwardMatchesFloat64Reference) {
  struct Case {
    FfnKind ffn;
    int64_t H, W;
    bool masked;
  };
  for (const Case c : {Case{FfnKind::kGelu, 6, 6, false}, Case{FfnKind::kGelu, 4, 10, true},
                       Case{FfnKind::kSwiGlu, 8, 6, true}}) {
    SCOPED_TRACE(std::to_string(c.H) + "x" + std::to_string(c.W));
    VisionTransformer vit(tiny_config(c.ffn), /*seed=*/3);
    vit->to(torch::kDouble);
    vit->eval();
    torch::NoGradGuard no_grad;
    {
      torch::NoGradGuard g;
      vit->mask_token.normal_();  // a nonzero mask token, so substitution is visible
    }
    const auto img = torch::rand({2, 3, c.H, c.W}, torch::kDouble);
    const int64_t N = (c.H / 2) * (c.W / 2);
    const auto mask = c.masked ? torch::rand({2, N}) < 0.4 : torch::Tensor();
    const VisionOutput got = vit->forward(img, mask, /*dense_readouts=*/true);
    const VisionOutput want = reference_forward(vit, img, mask);
    EXPECT_TRUE(torch::allclose(got.cls1, want.cls1, 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(got.cls2, want.cls2, 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(got.patches, want.patches, 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(got.value_patches, want.value_patches, 1e-10, 1e-10));
    EXPECT_GT((got.value_patches - got.patches).abs().max().item<double>(), 1e-3);  // really a different path
    // The attribution readout: the per-head reference terms through the norm differentiated numerically.
    EXPECT_TRUE(torch::allclose(got.attribution_patches, want.attribution_patches, 1e-7, 1e-9))
        << (got.attribution_patches - want.attribution_patches).abs().max().item<double>();
    EXPECT_GT(want.attribution_patches.abs().max().item<double>(), 1e-2);
  }
}

TEST(VisionTransformer, ForwardMultiEqualsSeparateForwards) {
  VisionTransformer vit(tiny_config());
  vit->eval();
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> crops{torch::rand({2, 3, 6, 6}), torch::rand({3, 3, 4, 4}),
                                         torch::rand({1, 3, 6, 6}), torch::rand({2, 3, 4, 8})};
  const std::vector<torch::Tensor> masks{torch::rand({2, 9}) < 0.5, {}, torch::rand({1, 9}) < 0.5, {}};
  const auto multi = vit->forward_multi(crops, masks);
  ASSERT_EQ(multi.size(), crops.size());
  for (size_t i = 0; i < crops.size(); ++i) {
    SCOPED_TRACE("crop " + std::to_string(i));
    const VisionOutput one = vit->forward(crops[i], masks[i]);
    EXPECT_TRUE(torch::allclose(multi[i].cls1, one.cls1, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(multi[i].cls2, one.cls2, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(multi[i].patches, one.patches, 1e-5, 1e-6));
  }
}

// One patch embedding feeding an unmasked and a masked forward (as the trainer's global crops do) gives those
// forwards' outputs bit for bit, and the patch projection's gradient of the two forwards made from the images
// separately (float64, so that the order of the sums does not show).
TEST(VisionTransformer, SharedPatchEmbeddingEqualsSeparateForwards) {
  VisionTransformer vit(tiny_config());
  vit->to(torch::kDouble);
  const auto img = torch::rand({2, 3, 6, 6}, torch::kDouble);
  const auto mask = torch::rand({2, 9}) < 0.5;
  const auto loss = [](const VisionOutput& a, const VisionOutput& b) {
    return (a.patches * a.patches).sum() + (b.cls1 * b.patches.mean(1)).sum();
  };
  const auto tokens = vit->embed(img);
  EXPECT_EQ(tokens.grid_h, 3);
  const VisionOutput shared_plain = vit->forward(tokens), shared_masked = vit->forward(tokens, mask);
  loss(shared_plain, shared_masked).backward();
  const auto shared_grad = vit->patch_embed->proj->weight.grad().clone();
  vit->zero_grad();
  const VisionOutput plain = vit->forward(img), masked = vit->forward(img, mask);
  loss(plain, masked).backward();
  EXPECT_TRUE(torch::equal(shared_plain.patches, plain.patches));
  EXPECT_TRUE(torch::equal(shared_masked.patches, masked.patches));
  EXPECT_TRUE(torch::allclose(shared_grad, vit->patch_embed->proj->weight.grad(), 1e-12, 1e-12));
  EXPECT_GT(shared_grad.abs().max().item<double>(), 0.0);
  const auto multi = vit->forward_multi(std::vector<tips::model::PatchTokens>{tokens, tokens}, {mask, {}});
  EXPECT_TRUE(torch::equal(multi[0].patches, masked.patches));
  EXPECT_TRUE(torch::equal(multi[1].patches, plain.patches));
  EXPECT_THROW(vit->forward(tips::model::PatchTokens{tokens.rows, 2, 2}), c10::Error);  // 9 rows, 2x2 grid
}

TEST(VisionTransformer, MaskTokenReplacesExactlyTheMaskedPatches) {
  VisionTransformer vit(tiny_config());
  vit->eval();
  torch::NoGradGuard no_grad;
  vit->mask_token.normal_();
  const auto img = torch::rand({2, 3, 6, 4});  // 3 x 2 grid
  const auto none = vit->prepare_tokens(img);
  const auto all_false = vit->prepare_tokens(img, torch::zeros({2, 6}, torch::kBool));
  EXPECT_TRUE(torch::equal(none, all_false));
  EXPECT_TRUE(torch::equal(vit->forward(img).patches, vit->forward(img, torch::zeros({2, 6}, torch::kBool)).patches));

  auto mask = torch::zeros({2, 6}, torch::kBool);
  mask[0][1] = true;
  mask[1][4] = true;
  mask[1][5] = true;
  const auto masked = vit->prepare_tokens(img, mask);  // (B, 2 + N, D)
  const auto pos = tips::model::resize_pos_embed(vit->pos_embed, 3, 2);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t n = 0; n < 6; ++n) {
      SCOPED_TRACE("b=" + std::to_string(b) + " n=" + std::to_string(n));
      const auto tok = masked[b][2 + n];
      if (mask[b][n].item<bool>()) {
        EXPECT_TRUE(torch::allclose(tok, vit->mask_token[0] + pos[0][1 + n]));
      } else {
        EXPECT_TRUE(torch::equal(tok, none[b][2 + n]));
      }
    }
  }
  EXPECT_TRUE(torch::equal(masked.narrow(1, 0, 2), none.narrow(1, 0, 2)));  // CLS tokens untouched
  EXPECT_THROW(vit->prepare_tokens(img, torch::zeros({2, 6}, torch::kFloat)), c10::Error);
}

TEST(VisionTransformer, TokenLayoutIsCls1PlusPosThenCls2WithoutPos) {
  VisionTransformer vit(tiny_config());
  torch::NoGradGuard no_grad;
  const auto t = vit->prepare_tokens(torch::rand({1, 3, 6, 6}));
  EXPECT_TRUE(torch::allclose(t[0][0], vit->cls_token[0][0] + vit->pos_embed[0][0]));
  EXPECT_TRUE(torch::equal(t[0][1], vit->register_tokens[0][0]));
}

// Antialiased bilinear resize, float64, following the separable triangle-filter definition (PIL style):
// for output i, center = s (i + 0.5) with s = in/out, support = max(s, 1); weights tri((j + 0.5 - center) /
// max(s, 1)) over j in [center - support + 0.5, center + support + 0.5) clipped to [0, in), normalised.
torch::Tensor aa_matrix(int64_t in, int64_t out) {
  auto m = torch::zeros({out, in}, torch::kDouble);
  const double s = static_cast<double>(in) / static_cast<double>(out), support = std::max(s, 1.0);
  for (int64_t i = 0; i < out; ++i) {
    const double center = s * (i + 0.5);
    const auto lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const auto hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
    double total = 0;
    for (int64_t j = lo; j < hi; ++j) total += std::max(0.0, 1.0 - std::abs((j + 0.5 - center) / support));
    for (int64_t j = lo; j < hi; ++j)
      m[i][j] = std::max(0.0, 1.0 - std::abs((j + 0.5 - center) / support)) / total;
  }
  return m;
}

// PatchEmbed runs the strided convolution as one GEMM over the unfolded patches: values and weight gradients
// against ATen's convolution, on a non-square image.
TEST(PatchEmbed, IsTheStridedConvolutionWithItsGradients) {
  tips::model::PatchEmbed embed(4, 6);
  embed->to(torch::kDouble);
  const auto img = torch::randn({2, 3, 8, 12}, torch::kDouble);
  const auto weights = torch::randn({2, 6, 6}, torch::kDouble);
  const auto& w = embed->proj->weight;
  const auto& b = embed->proj->bias;
  const auto got = embed(img);  // (B, h*w, D)
  const auto want = torch::conv2d(img, w, b, 4).flatten(2).transpose(1, 2);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::allclose(got, want, 1e-12, 1e-12));
  const auto g_got = torch::autograd::grad({(got * weights).sum()}, {w, b});
  const auto g_want = torch::autograd::grad({(want * weights).sum()}, {w, b});
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::allclose(g_got[i], g_want[i], 1e-12, 1e-12)) << i;
}

// Under bf16 autocast the patches are gathered straight into bf16: the same bits as the float32 gather that the
// linear casts, and as ATen's convolution on the bf16-rounded image and weights, up to bf16 output rounding.
TEST(PatchEmbed, Bf16AutocastGatherGivesTheCastRows) {
  tips::model::PatchEmbed embed(4, 6);
  const auto img = torch::randn({2, 3, 8, 12});
  const auto w = embed->proj->weight.view({6, 48}), b = embed->proj->bias;
  const auto rows = img.reshape({2, 3, 2, 4, 3, 4}).permute({0, 2, 4, 1, 3, 5}).reshape({2, 6, 48});
  tips::compat::AutocastGuard autocast(c10::DeviceType::CPU, true, torch::kBFloat16);
  const auto got = embed(img);
  ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(got, torch::linear(rows, w, b)));  // autocast casts the float32 rows itself
  const auto conv = torch::conv2d(img.to(torch::kBFloat16).to(torch::kDouble),
                                  embed->proj->weight.to(torch::kBFloat16).to(torch::kDouble), b.to(torch::kDouble), 4)
                        .flatten(2)
                        .transpose(1, 2);
  EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), conv, 1e-2, 1e-2));
}

TEST(ResizePosEmbed, IdentityOnTheStoredGrid) {
  const auto table = torch::randn({1, 1 + 16, 5});
  EXPECT_TRUE(torch::equal(tips::model::resize_pos_embed(table, 4, 4), table));
}

TEST(ResizePosEmbed, MatchesPythonAntialiasedBilinearAndFloat64Formula) {
  // Values from /usr/bin/python3 (torch 1.13): F.interpolate(table.reshape(1,4,4,2).permute(0,3,1,2), size=(h,w),
  // mode="bilinear", align_corners=False, antialias=True).permute(0,2,3,1), table = sin(0.37 k + 0.5), k < 32.
  struct Case {
    int64_t h, w;
    std::vector<float> want;
  };
  const Case cases[] = {
      {3, 5, {0.2416816, 0.3444378, 0.3529077, 0.3850801, 0.3752600, 0.3262625, 0.2798417, 0.1650513, 0.1162693,
              -0.0332245, -0.0883330, -0.0749566, -0.0625045, -0.0371535, -0.0195343, 0.0115297, 0.0295665,
              0.0565944, 0.0696998, 0.0859545, 0.0722506, -0.0780451, -0.1307692, -0.2530381, -0.3058361,
              -0.3672387, -0.3849201, -0.3661859, -0.3639798, -0.2722544}},
      {2, 2, {0.1165128, 0.1247866, 0.0851987, 0.0464624, -0.0351029, -0.0760303, -0.1241621, -0.1202717}},
      {6, 3, {0.6193331, 0.8347998, 0.9316109, 0.8553525, 0.5616813, 0.2495408, 0.0693612, 0.0465601, 0.0043595,
              -0.0264642, -0.0638346, -0.0801091, -0.3461617, -0.5140380, -0.6217726, -0.6016772, -0.4420669,
              -0.2487154, 0.1916345, 0.3965278, 0.5827045, 0.6247371, 0.5470669, 0.3954589, 0.0826254, 0.0690183,
              0.0340667, 0.0037841, -0.0394386, -0.0642212, -0.1608327, -0.4861324, -0.8156899, -0.9237722,
              -0.8732272, -0.6849446}},
      {1, 7, {0.0576783, 0.0489440, 0.0490737, 0.0363501, 0.0353062, 0.0161998, 0.0127552, -0.0075284, -0.0107489,
              -0.0306942, -0.0321413, -0.0463441, -0.0455115, -0.0561252}},
  };
  const auto patches = torch::sin(0.37 * torch::arange(32, torch::kDouble) + 0.5);
  auto cls_row = torch::tensor({7.0, -3.0}, torch::kDouble);
  const auto table = torch::cat({cls_row, patches}).view({1, 17, 2}).to(torch::kFloat);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.h) + "x" + std::to_string(c.w));
    const auto got = tips::model::resize_pos_embed(table, c.h, c.w);
    ASSERT_EQ(got.sizes(), torch::IntArrayRef({1, 1 + c.h * c.w, 2}));
    EXPECT_TRUE(torch::equal(got[0][0], table[0][0]));  // CLS row untouched
    const auto py = torch::tensor(c.want).view({c.h * c.w, 2});
    EXPECT_TRUE(torch::allclose(got[0].narrow(0, 1, c.h * c.w), py, 0, 2e-6));
    // Separable float64 formula: out[:, :, d] = Rh @ grid[:, :, d] @ Rw^T.
    const auto grid = patches.view({4, 4, 2});
    const auto Rh = aa_matrix(4, c.h), Rw = aa_matrix(4, c.w);
    for (int64_t d = 0; d < 2; ++d) {
      const auto want = torch::matmul(torch::matmul(Rh, grid.select(2, d)), Rw.t()).reshape({-1});
      EXPECT_TRUE(torch::allclose(got[0].narrow(0, 1, c.h * c.w).select(1, d).to(torch::kDouble), want, 0, 1e-6));
    }
  }
}

TEST(VisionTransformer, EvalIsDeterministicAndDropPathOnlyActsInTraining) {
  VisionConfig c = tiny_config();
  c.drop_path = 0.5;
  VisionTransformer with_dp(c, /*seed=*/5);
  c.drop_path = 0.0;
  VisionTransformer without(c, /*seed=*/5);
  const auto img = torch::rand({4, 3, 6, 6});
  torch::NoGradGuard no_grad;
  with_dp->eval();
  without->eval();
  const auto e1 = with_dp->forward(img).patches, e2 = with_dp->forward(img).patches;
  EXPECT_TRUE(torch::equal(e1, e2));
  EXPECT_TRUE(torch::equal(e1, without->forward(img).patches));  // drop_path changes nothing in eval
  without->train();
  EXPECT_TRUE(torch::equal(without->forward(img).patches, e1));  // rate 0: train == eval
  with_dp->train();
  const auto t1 = with_dp->forward(img).patches, t2 = with_dp->forward(img).patches;
  EXPECT_FALSE(torch::allclose(t1, e1));
  EXPECT_FALSE(torch::allclose(t1, t2));  // the generator advances
  with_dp->set_drop_path_generator(tips::rng::generator(11));
  const auto r1 = with_dp->forward(img).patches;
  with_dp->set_drop_path_generator(tips::rng::generator(11));
  EXPECT_TRUE(torch::equal(with_dp->forward(img).patches, r1));  // reproducible from the generator
}

TEST(VisionTransformer, CloneCopiesWeightsAndIsIndependent) {
  VisionTransformer vit(tiny_config(FfnKind::kSwiGlu), /*seed=*/9);
  vit->eval();
  auto copy = std::dynamic_pointer_cast<tips::model::VisionTransformerImpl>(vit->clone());
  ASSERT_TRUE(copy);
  const auto img = torch::rand({2, 3, 4, 6});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(copy->forward(img).patches, vit->forward(img).patches));
  copy->block(1).attn->proj->weight.normal_();  // (a constant shift would cancel in the LayerNorms)
  EXPECT_FALSE(torch::allclose(copy->forward(img).patches, vit->forward(img).patches));
  EXPECT_EQ(copy->named_parameters().size(), vit->named_parameters().size());
}

// d(loss)/d(param) by autograd against central finite differences, float64, non-square input, mask, both CLS,
// patches and the value-trick path in the loss.
TEST(VisionTransformer, GradientsMatchFiniteDifferences) {
  for (const FfnKind ffn : {FfnKind::kGelu, FfnKind::kSwiGlu}) {
    SCOPED_TRACE(ffn == FfnKind::kGelu ? "gelu" : "swiglu");
    VisionConfig c = tiny_config(ffn);
    c.dim = 4;
    c.mlp_hidden = 6;
    c.pos_grid = 2;
    VisionTransformer vit(c, /*seed=*/1);
    vit->to(torch::kDouble);
    vit->eval();
    {
      torch::NoGradGuard g;
      vit->mask_token.normal_();
    }
    const auto img = torch::rand({2, 3, 4, 6}, torch::kDouble);
    const auto mask = torch::tensor({true, false, false, false, true, false, false, false, false, false, false, true})
                          .view({2, 6});
    const auto w1 = torch::randn({2, 4}, torch::kDouble), w2 = torch::randn({2, 6, 4}, torch::kDouble);
    const auto loss_fn = [&] {
      const VisionOutput o = vit->forward(img, mask, /*dense_readouts=*/true);
      return (o.cls1 * w1).sum() + (o.cls2 * w1).sum() * 0.5 + (o.patches * w2).sum() +
             (o.value_patches * w2).sum() * 0.3;
    };
    vit->zero_grad();
    loss_fn().backward();
    auto P = vit->named_parameters();
    const std::string names[] = {c.ffn == FfnKind::kGelu ? "blocks.1.mlp.fc1.weight" : "blocks.1.mlp.w12.weight",
                                 "pos_embed", "blocks.0.attn.qkv.weight", "blocks.1.attn.qkv.bias", "mask_token",
                                 "register_tokens", "patch_embed.proj.weight", "blocks.0.ls1.gamma", "norm.weight"};
    for (const auto& name : names) {
      SCOPED_TRACE(name);
      ref::expect_grad_matches_finite_differences(P[name], loss_fn, {0, P[name].numel() / 2, P[name].numel() - 1});
    }
  }
}

}  // namespace
