#include "tips/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>

#include "tips/core/error.h"
#include "tips/io/atomic_file.h"

namespace tips::io {

namespace {

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
constexpr std::array<DtypeName, 8> kDtypes{{{torch::kFloat, "F32"},
                                            {torch::kDouble, "F64"},
                                            {torch::kBFloat16, "BF16"},
                                            {torch::kHalf, "F16"},
                                            {torch::kLong, "I64"},
                                            {torch::kInt, "I32"},
                                            {torch::kByte, "U8"},
                                            {torch::kBool, "BOOL"}}};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  TORCH_CHECK(false, "write_safetensors: unsupported dtype ", t);
  return "";
}

bool dtype_of(const std::string& name, torch::ScalarType& out) {
  for (const auto& d : kDtypes)
    if (name == d.name) return out = d.type, true;
  return false;
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CheckpointError(path + ": cannot open", "check the path");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// One header entry -> a tensor over `data` (the bytes after the header), validated.
torch::Tensor entry_tensor(const std::string& path, const std::string& name, const nlohmann::json& e,
                           const std::string& data, std::set<std::pair<uint64_t, uint64_t>>& ranges) {
  const auto fail = [&](const std::string& what) {
    throw CheckpointError(path + ": tensor '" + name + "': " + what, "the file is damaged or not a safetensors file");
  };
  torch::ScalarType type;
  if (!e.is_object() || !e.contains("dtype") || !e["dtype"].is_string() || !dtype_of(e["dtype"], type))
    fail("missing or unsupported dtype");
  if (!e.contains("shape") || !e["shape"].is_array() || !e.contains("data_offsets") || !e["data_offsets"].is_array() ||
      e["data_offsets"].size() != 2 || !e["data_offsets"][0].is_number_unsigned() ||
      !e["data_offsets"][1].is_number_unsigned())
    fail("missing shape or data_offsets");
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (const auto& d : e["shape"]) {
    if (!d.is_number_unsigned()) fail("a dimension is not a non-negative integer");
    shape.push_back(d.get<int64_t>());
    count *= shape.back();
  }
  const uint64_t begin = e["data_offsets"][0].get<uint64_t>(), end = e["data_offsets"][1].get<uint64_t>();
  const uint64_t bytes = static_cast<uint64_t>(count) * c10::elementSize(type);
  if (end < begin || end - begin != bytes) fail("data_offsets do not match dtype and shape");
  if (end > data.size()) fail("data_offsets lie beyond the end of the file (truncated?)");
  for (const auto& [b, en] : ranges)
    if (begin < en && b < end) fail("its bytes overlap another tensor's");
  ranges.insert({begin, end});
  auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
  if (bytes > 0) std::memcpy(t.data_ptr(), data.data() + begin, bytes);
  return t;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> blobs;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    TORCH_CHECK(names.insert(name).second && name != "__metadata__", "write_safetensors: duplicate name '", name, "'");
    const auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  atomic_write(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((text.size() >> (8 * i)) & 0xff);
    f.write(reinterpret_cast<const char*>(len), 8);
    f << text;
    for (const auto& b : blobs)
      f.write(static_cast<const char*>(b.data_ptr()), static_cast<std::streamsize>(b.numel() * b.element_size()));
    if (!f.flush()) throw CheckpointError("writing " + tmp + " failed", "check the free disk space");
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = read_all(path);
  const char* hint = "the file is damaged or not a safetensors file";
  if (bytes.size() < 8) throw CheckpointError(path + ": shorter than a safetensors header", hint);
  const uint64_t n = read_u64_le(reinterpret_cast<const unsigned char*>(bytes.data()));
  if (n > bytes.size() - 8) throw CheckpointError(path + ": header length beyond the end of the file", hint);
  const auto header = nlohmann::json::parse(bytes.substr(8, n), nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) throw CheckpointError(path + ": the header is not a JSON object", hint);
  const std::string data = bytes.substr(8 + n);
  SafetensorsFile out;
  std::vector<std::pair<uint64_t, size_t>> order;  // (offset, index) to return tensors in file order
  std::set<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : e.items())
        if (v.is_string()) out.metadata[k] = v.get<std::string>();
      continue;
    }
    auto t = entry_tensor(path, name, e, data, ranges);  // validates the entry first
    order.emplace_back(e["data_offsets"][0].get<uint64_t>(), out.tensors.size());
    out.tensors.emplace_back(name, std::move(t));
  }
  std::sort(order.begin(), order.end());
  std::vector<std::pair<std::string, torch::Tensor>> sorted;
  for (const auto& [offset, i] : order) sorted.push_back(std::move(out.tensors[i]));
  out.tensors = std::move(sorted);
  return out;
}

}  // namespace tips::io
