#include "tips/io/tips_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/model/presets.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

namespace {

using tips::io::NpzArrays;
using tips::testing::TempDir;

// A stand-in with official-looking nested keys: cls_token, blocks.{i}.attn.qkv.{weight,bias}, norm.{weight,bias}.
struct AttnImpl : torch::nn::Module {
  explicit AttnImpl(int64_t d) : qkv(register_module("qkv", torch::nn::Linear(d, 3 * d))) {}
  torch::nn::Linear qkv;
};
TORCH_MODULE(Attn);
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(int64_t d) : attn(register_module("attn", Attn(d))) {}
  Attn attn;
};
TORCH_MODULE(Block);
struct DummyImpl : torch::nn::Module {
  DummyImpl(int64_t d, int64_t depth, uint64_t seed) {
    auto gen = tips::rng::generator(seed);
    cls_token = register_parameter("cls_token", torch::randn({1, 1, d}, gen));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < depth; ++i) blocks->push_back(Block(d));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    torch::NoGradGuard g;
    for (auto& p : parameters()) p.copy_(torch::randn(p.sizes(), gen));
  }
  torch::Tensor cls_token;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Dummy);

const std::vector<std::string> kDummyKeys = {"cls_token",          "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                                             "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias", "norm.weight",
                                             "norm.bias"};

void expect_params_equal(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) {
    SCOPED_TRACE(p.key());
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()]));
  }
}

TEST(TipsCheckpoint, ExportWritesEveryParameterAsFloat32UnderItsKey) {
  TempDir dir;
  Dummy m(4, 2, 1);
  tips::io::export_image_encoder(*m, dir.file("image_encoder.npz"));
  const NpzArrays a = tips::io::read_npz(dir.file("image_encoder.npz"));
  ASSERT_EQ(a.size(), kDummyKeys.size());
  for (size_t i = 0; i < kDummyKeys.size(); ++i) {
    SCOPED_TRACE(kDummyKeys[i]);
    EXPECT_EQ(a.items()[i].first, kDummyKeys[i]);
    EXPECT_EQ(a.items()[i].second.scalar_type(), torch::kFloat);
  }
  EXPECT_EQ(a.at("blocks.1.attn.qkv.weight").sizes(), (std::vector<int64_t>{12, 4}));
  EXPECT_TRUE(torch::equal(a.at("cls_token"), m->cls_token));
}

TEST(TipsCheckpoint, DoubleParametersAreStoredAsFloat32) {
  TempDir dir;
  Dummy m(3, 1, 2);
  m->to(torch::kDouble);
  tips::io::export_image_encoder(*m, dir.file("w.npz"));
  const auto w = tips::io::read_npz(dir.file("w.npz")).at("norm.weight");
  EXPECT_EQ(w.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(w, m->norm->weight.to(torch::kFloat)));
}

TEST(TipsCheckpoint, ImportRestoresExactlyAndReExportIsByteIdentical) {
  TempDir dir;
  Dummy src(4, 2, 1), dst(4, 2, 99);
  const auto paths = tips::io::OfficialPaths::in_dir(dir.str());
  tips::io::export_official(*src, *src, paths, /*temperature=*/0.07f);
  tips::io::import_image_encoder(paths.image_npz, *dst);
  expect_params_equal(*src, *dst);
  const auto scalars = tips::io::import_text_encoder(paths.text_npz, *dst);
  ASSERT_TRUE(scalars.temperature.has_value());
  EXPECT_EQ(*scalars.temperature, 0.07f);
  EXPECT_FALSE(scalars.temperature_contrastive.has_value());
  tips::io::export_image_encoder(*dst, dir.file("again.npz"));
  EXPECT_EQ(tips::testing::read_text(paths.image_npz), tips::testing::read_text(dir.file("again.npz")));
}

TEST(TipsCheckpoint, TextScalarsRoundTrip) {
  TempDir dir;
  Dummy m(2, 1, 3);
  tips::io::export_text_encoder(*m, dir.file("t.npz"), {0.5f, 0.01f});
  const NpzArrays a = tips::io::read_npz(dir.file("t.npz"));
  EXPECT_EQ(a.at("temperature").dim(), 0);
  const auto s = tips::io::import_text_encoder(dir.file("t.npz"), *m);
  EXPECT_EQ(s.temperature.value_or(-1), 0.5f);
  EXPECT_EQ(s.temperature_contrastive.value_or(-1), 0.01f);
}

// Writes `good` with one change applied, then expects a strict-import error naming `needles`.
TEST(TipsCheckpoint, StrictImportNamesFileKeyAndShapes) {
  TempDir dir;
  Dummy src(4, 2, 1);
  const NpzArrays good = tips::io::module_arrays(*src);
  const auto without = [&](const std::string& drop) {
    NpzArrays a;
    for (const auto& [k, v] : good.items())
      if (k != drop) a.add(k, v);
    return a;
  };
  const auto replaced = [&](const std::string& key, torch::Tensor value) {
    NpzArrays a;
    for (const auto& [k, v] : good.items()) a.add(k, k == key ? value : v);
    return a;
  };
  NpzArrays extra = good;
  extra.add("blocks.2.attn.qkv.bias", torch::zeros({12}));
  NpzArrays temperature_in_image = good;
  temperature_in_image.add("temperature", torch::tensor(0.1f).reshape({}));

  const struct {
    const char* name;
    NpzArrays arrays;
    bool text_file;
    std::vector<std::string> needles;
  } cases[] = {
      {"missing", without("blocks.1.attn.qkv.bias"), false, {"missing key 'blocks.1.attn.qkv.bias'", "[12]"}},
      {"extra", extra, false, {"extra key 'blocks.2.attn.qkv.bias'"}},
      {"shape", replaced("blocks.0.attn.qkv.weight", torch::zeros({12, 5})), false,
       {"'blocks.0.attn.qkv.weight'", "file [12, 5]", "model [12, 4]"}},
      {"int_dtype", replaced("norm.bias", torch::zeros({4}, torch::kLong)), false, {"'norm.bias'", "Long"}},
      {"temperature_in_image_file", temperature_in_image, false, {"extra key 'temperature'"}},
      {"temperature_not_scalar", [&] {
         NpzArrays a = good;
         a.add("temperature", torch::ones({1}));
         return a;
       }(), true, {"'temperature' must be a 0-d"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(std::string(c.name) + ".npz");
    tips::io::write_npz(path, c.arrays);
    Dummy dst(4, 2, 99);
    Dummy before(4, 2, 99);
    try {
      if (c.text_file)
        tips::io::import_text_encoder(path, *dst);
      else
        tips::io::import_image_encoder(path, *dst);
      ADD_FAILURE() << "no error";
    } catch (const tips::CheckpointError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      for (const auto& n : c.needles) EXPECT_NE(msg.find(n), std::string::npos) << "want '" << n << "' in: " << msg;
    }
    expect_params_equal(*dst, *before);  // a failed import changes nothing
  }
}

// The real towers (GELU and SwiGLU): export -> import into a differently seeded model -> identical parameters,
// identical forward outputs, and a re-export with identical bytes.
TEST(TipsCheckpoint, RealEncodersRoundTripBitExactly) {
  for (const auto ffn : {tips::model::FfnKind::kGelu, tips::model::FfnKind::kSwiGlu}) {
    SCOPED_TRACE(ffn == tips::model::FfnKind::kGelu ? "gelu" : "swiglu");
    TempDir dir;
    auto vc = tips::model::vision_preset("tiny");
    vc.depth = 2;
    vc.ffn = ffn;
    auto tc = tips::model::text_preset("tiny");
    tc.depth = 1;
    tc.vocab_size = 50;
    tips::model::VisionTransformer v1(vc, 1), v2(vc, 2);
    tips::model::TextEncoder t1(tc, 1), t2(tc, 2);
    const auto paths = tips::io::OfficialPaths::in_dir(dir.str());
    tips::io::export_official(*v1, *t1, paths, 0.02f);
    tips::io::import_image_encoder(paths.image_npz, *v2);
    EXPECT_EQ(tips::io::import_text_encoder(paths.text_npz, *t2).temperature.value_or(0), 0.02f);
    expect_params_equal(*v1, *v2);
    expect_params_equal(*t1, *t2);

    torch::NoGradGuard no_grad;
    v1->eval();
    v2->eval();
    t1->eval();
    t2->eval();
    auto gen = tips::rng::generator(5);
    const auto images = torch::rand({2, 3, 48, 48}, gen);  // 6x6 grid: the stored 14x14 table is resized
    const auto ids = torch::tensor({3, 9, 0, 0, 7, 1, 2, 0}).reshape({2, 4});
    EXPECT_TRUE(torch::equal(v1->forward(images).patches, v2->forward(images).patches));
    EXPECT_TRUE(torch::equal(t1->forward(ids), t2->forward(ids)));

    const auto again = tips::io::OfficialPaths::in_dir(dir.file("again"));
    std::filesystem::create_directories(dir.file("again"));
    tips::io::export_official(*v2, *t2, again, 0.02f);
    EXPECT_EQ(tips::testing::read_text(paths.image_npz), tips::testing::read_text(again.image_npz));
    EXPECT_EQ(tips::testing::read_text(paths.text_npz), tips::testing::read_text(again.text_npz));
  }
}

}  // namespace
