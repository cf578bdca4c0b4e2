// tips/io/safetensors.h - the safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the raw little-endian data. No code runs on load,
// and the file can be memory-mapped by other tools. This file is the format only; what the names mean for a TIPS
// model is in train/weights.h.
//
// Example:
//   write_safetensors("model.safetensors", {{"vision.cls_token", t}}, {{"format", "tipsv2.cpp"}});
//   SafetensorsFile f = read_safetensors("model.safetensors");   // f.tensors[0].second equals t
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tips::io {

struct SafetensorsFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // in file (offset) order, CPU, contiguous
  std::map<std::string, std::string> metadata;                 // the header's "__metadata__" (string -> string)
};

// Writes the tensors (any of float32, float64, bfloat16, float16, int64, int32, uint8, bool; moved to the CPU) in
// the given order, with the metadata. Atomic: tmp file, fsync, rename. Throws CheckpointError on I/O failure and
// c10::Error for an unsupported dtype or a duplicate name.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Reads and validates a file: a header that parses, known dtypes, byte ranges that match the shapes, lie inside
// the file and do not overlap. Throws CheckpointError naming the file and the problem.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace tips::io
