#include "tips/io/npz.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "tips/core/error.h"

namespace {

using tips::io::NpzArrays;
using tips::testing::TempDir;

// Arrays whose values are hand-checkable formulas, shared by the C++ side and the Python scripts below.
NpzArrays sample_arrays() {
  NpzArrays a;
  a.add("f32", torch::arange(24, torch::kFloat).reshape({2, 3, 4}) * 0.5 - 3.0);
  a.add("f64_scalar", torch::tensor(3.25, torch::kDouble).reshape({}));
  a.add("i64", torch::tensor({int64_t{1} << 40, int64_t{-7}, int64_t{0}}, torch::kLong));
  a.add("i32", torch::tensor({-2147483647 - 1, 5, 2147483647}, torch::kInt).reshape({3, 1}));
  a.add("u8", torch::tensor({0, 1, 128, 255}, torch::kByte).reshape({2, 2}));
  a.add("b", torch::tensor({true, false, true}, torch::kBool));
  a.add("blocks.0.attn.qkv.weight", torch::arange(12, torch::kFloat).reshape({6, 2}) * 0.125 - 0.75);
  a.add("empty", torch::zeros({0, 3}, torch::kFloat));
  return a;
}

// The same arrays written as numpy literals.
const char* kNumpyArrays = R"(
import numpy as np
arrays = {
  'f32': (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.5) - np.float32(3.0)),
  'f64_scalar': np.array(3.25, dtype=np.float64),
  'i64': np.array([1 << 40, -7, 0], dtype=np.int64),
  'i32': np.array([-2**31, 5, 2**31 - 1], dtype=np.int32).reshape(3, 1),
  'u8': np.array([0, 1, 128, 255], dtype=np.uint8).reshape(2, 2),
  'b': np.array([True, False, True]),
  'blocks.0.attn.qkv.weight': np.arange(12, dtype=np.float32).reshape(6, 2) * np.float32(0.125) - np.float32(0.75),
  'empty': np.zeros((0, 3), dtype=np.float32),
}
)";

void expect_same(const NpzArrays& got, const NpzArrays& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, w] : want.items()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.contains(name));
    const torch::Tensor& g = got.at(name);
    EXPECT_EQ(g.scalar_type(), w.scalar_type());
    EXPECT_EQ(g.sizes(), w.sizes());
    EXPECT_TRUE(torch::equal(g, w));
  }
}

TEST(Npz, RoundTripKeepsDtypeShapeValuesAndOrder) {
  TempDir dir;
  const NpzArrays a = sample_arrays();
  tips::io::write_npz(dir.file("a.npz"), a);
  const NpzArrays b = tips::io::read_npz(dir.file("a.npz"));
  expect_same(b, a);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(b.items()[i].first, a.items()[i].first);
  // No temporary left behind by the atomic write.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.str()), {}), 1);
}

TEST(Npz, SameArraysGiveIdenticalFileBytes) {
  TempDir dir;
  tips::io::write_npz(dir.file("a.npz"), sample_arrays());
  tips::io::write_npz(dir.file("b.npz"), sample_arrays());
  EXPECT_EQ(tips::testing::read_text(dir.file("a.npz")), tips::testing::read_text(dir.file("b.npz")));
}

TEST(Npz, NonContiguousInputIsWrittenInLogicalOrder) {
  TempDir dir;
  NpzArrays a;
  const auto base = torch::arange(6, torch::kFloat).reshape({2, 3});
  a.add("t", base.t());  // (3, 2) view, strides (1, 3)
  tips::io::write_npz(dir.file("t.npz"), a);
  const auto back = tips::io::read_npz(dir.file("t.npz")).at("t");
  EXPECT_TRUE(torch::equal(back, torch::tensor({0.f, 3.f, 1.f, 4.f, 2.f, 5.f}).reshape({3, 2})));
}

TEST(Npz, ReadsFilesWrittenByNumpySavezAndSavezCompressed) {
  TempDir dir;
  std::string out;
  const int rc = tips::testing::run_python(
      dir, std::string(kNumpyArrays) + "np.savez('plain.npz', **arrays)\nnp.savez_compressed('zipped.npz', **arrays)\n",
      &out);
  ASSERT_EQ(rc, 0) << out;
  const NpzArrays want = sample_arrays();
  for (const char* f : {"plain.npz", "zipped.npz"}) {
    SCOPED_TRACE(f);
    expect_same(tips::io::read_npz(dir.file(f)), want);
  }
}

TEST(Npz, NumpyReadsOurFilesWithoutPickle) {
  TempDir dir;
  tips::io::write_npz(dir.file("ours.npz"), sample_arrays());
  std::string out;
  const int rc = tips::testing::run_python(dir, std::string(kNumpyArrays) + R"(
got = np.load('ours.npz', allow_pickle=False)
assert sorted(got.files) == sorted(arrays), got.files
for k, v in arrays.items():
    g = got[k]
    assert g.dtype == v.dtype and g.shape == v.shape and np.array_equal(g, v), (k, g.dtype, g.shape, v.dtype)
    assert g.flags['C_CONTIGUOUS']
print('numpy ok')
)", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("numpy ok"), std::string::npos) << out;
}

TEST(Npz, RejectsUnsupportedArraysNamingFileAndArray) {
  TempDir dir;
  std::string out;
  const int rc = tips::testing::run_python(dir, R"(
import numpy as np
np.savez('fortran.npz', w=np.asfortranarray(np.ones((2, 3), np.float32)))
np.savez('big.npz', w=np.ones(3, dtype='>f4'))
np.savez('object.npz', w=np.array([{'a': 1}, None], dtype=object))
np.savez('half.npz', w=np.ones(3, dtype=np.float16))
)", &out);
  ASSERT_EQ(rc, 0) << out;
  const struct {
    const char* file;
    const char* reason;
  } cases[] = {
      {"fortran.npz", "Fortran-order"},
      {"big.npz", "big-endian"},
      {"object.npz", "pickled"},
      {"half.npz", "unsupported dtype '<f2'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    try {
      tips::io::read_npz(dir.file(c.file));
      ADD_FAILURE() << "no error";
    } catch (const tips::CheckpointError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(dir.file(c.file) + ":w"), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.reason), std::string::npos) << msg;
    }
  }
}

TEST(Npz, DamagedFilesThrowCheckpointError) {
  TempDir dir;
  NpzArrays a;
  a.add("w", torch::arange(4096, torch::kFloat));
  tips::io::write_npz(dir.file("good.npz"), a);
  const std::string good = tips::testing::read_text(dir.file("good.npz"));
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x5a;  // inside the array data: caught by the CRC check
  const struct {
    const char* name;
    std::string bytes;
  } cases[] = {
      {"truncated", good.substr(0, good.size() / 2)},
      {"no_directory", good.substr(0, good.size() - 30)},
      {"bitflip", flipped},
      {"not_a_zip", "hello, I am a text file\n"},
      {"empty", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(std::string(c.name) + ".npz");
    tips::testing::write_text(path, c.bytes);
    EXPECT_THROW(tips::io::read_npz(path), tips::CheckpointError);
  }
  EXPECT_THROW(tips::io::read_npz(dir.file("missing.npz")), tips::CheckpointError);
}

TEST(Npz, DecodeChecksHeaderAgainstDataSize) {
  const std::string good = tips::io::encode_npy(torch::ones({2, 3}));
  EXPECT_EQ(good.size() % 64, 24u);  // 64-byte aligned header, then 6 floats
  EXPECT_TRUE(torch::equal(tips::io::decode_npy(good, "x"), torch::ones({2, 3})));
  EXPECT_THROW(tips::io::decode_npy(good.substr(0, good.size() - 4), "x"), tips::CheckpointError);
  EXPECT_THROW(tips::io::decode_npy(good + "abcd", "x"), tips::CheckpointError);
  EXPECT_THROW(tips::io::decode_npy("\x93NUMPY", "x"), tips::CheckpointError);
}

TEST(Npz, WriteIntoMissingDirectoryThrows) {
  TempDir dir;
  EXPECT_THROW(tips::io::write_npz(dir.file("no/such/dir/a.npz"), sample_arrays()), tips::CheckpointError);
}

}  // namespace
