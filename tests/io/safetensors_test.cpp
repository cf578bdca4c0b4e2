#include "tips/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tips/core/error.h"

namespace {

namespace fs = std::filesystem;

std::string temp_file(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("tips_st_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

TEST(Safetensors, RoundTripKeepsNamesOrderDtypesAndMetadata) {
  const std::string path = temp_file("rt.safetensors");
  const std::vector<std::pair<std::string, torch::Tensor>> in = {
      {"b.weight", torch::randn({3, 5})},
      {"a.scalar", torch::tensor(2.5)},
      {"ids", torch::arange(7, torch::kLong)},
      {"half", torch::randn({4}).to(torch::kBFloat16)},
      {"empty", torch::zeros({0, 3})}};
  tips::io::write_safetensors(path, in, {{"config", "model:\n  dim: 3\n"}});
  // The header length is little-endian and the data starts 8-byte aligned.
  std::ifstream f(path, std::ios::binary);
  unsigned char len[8];
  f.read(reinterpret_cast<char*>(len), 8);
  EXPECT_EQ(len[0] % 8, 0);
  const auto out = tips::io::read_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(in[i].first);
    EXPECT_EQ(out.tensors[i].first, in[i].first);  // written order = offset order
    EXPECT_EQ(out.tensors[i].second.scalar_type(), in[i].second.scalar_type());
    EXPECT_TRUE(torch::equal(out.tensors[i].second, in[i].second));
  }
  EXPECT_EQ(out.metadata.at("config"), "model:\n  dim: 3\n");
  EXPECT_THROW(tips::io::write_safetensors(path, {{"x", torch::ones(1)}, {"x", torch::ones(1)}}), c10::Error);
}

TEST(Safetensors, DamagedFilesAreCheckpointErrors) {
  const std::string good = temp_file("good.safetensors");
  tips::io::write_safetensors(good, {{"w", torch::ones({64})}});
  std::string bytes;
  {
    std::ifstream f(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  const auto write = [&](const std::string& name, const std::string& content) {
    const std::string p = temp_file(name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
  };
  EXPECT_THROW(tips::io::read_safetensors(write("short", bytes.substr(0, 5))), tips::CheckpointError);
  EXPECT_THROW(tips::io::read_safetensors(write("truncated", bytes.substr(0, bytes.size() - 4))),
               tips::CheckpointError);
  std::string huge = bytes;
  huge[7] = '\x7f';  // header length beyond the file
  EXPECT_THROW(tips::io::read_safetensors(write("huge", huge)), tips::CheckpointError);
  std::string not_json = bytes;
  not_json[8] = '[';
  EXPECT_THROW(tips::io::read_safetensors(write("notjson", not_json)), tips::CheckpointError);
  EXPECT_THROW(tips::io::read_safetensors(temp_file("missing")), tips::CheckpointError);
}

}  // namespace
