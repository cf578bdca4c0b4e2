// tips/io/npz.h - NumPy .npz archives (a zip of .npy arrays) read and written without pickle.
// This is the container of the official TIPS weights (docs/checkpoint_format.md); it is not
// a general NumPy reader: only C-order, little-endian arrays of the dtypes below, any rank (0-d included).
//
//   dtype   .npy descr   torch
//   float32 <f4          kFloat      float64 <f8   kDouble
//   int64   <i8          kLong       int32   <i4   kInt
//   uint8   |u1          kByte       bool    |b1   kBool
//
// Example:
//   NpzArrays arrays;
//   arrays.add("pos_embed", torch::zeros({1, 257, 384}));
//   write_npz("image_encoder.npz", arrays);            // atomic: tmp file, fsync, rename
//   NpzArrays back = read_npz("image_encoder.npz");    // numpy.load(..., allow_pickle=False) reads it too
//   torch::Tensor p = back.at("pos_embed");
#pragma once
#include <torch/torch.h>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tips::io {

// Named arrays in insertion (= file) order, with lookup by name. Names are unique.
class NpzArrays {
 public:
  // Appends `name`; throws std::invalid_argument when the name is already present.
  void add(const std::string& name, torch::Tensor value);
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  // Throws std::out_of_range naming the missing array.
  const torch::Tensor& at(const std::string& name) const;
  const std::vector<std::pair<std::string, torch::Tensor>>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<std::pair<std::string, torch::Tensor>> items_;
  std::unordered_map<std::string, size_t> index_;
};

// Reads every array of `path`. Entry "x.npy" becomes array "x" (as numpy.load does). Tensors are CPU,
// contiguous, with the dtype of the table above and the stored shape.
// Throws CheckpointError (naming the file, and the array when there is one) when the file is missing,
// not a zip, truncated or corrupt (CRC), or an array is Fortran-order, big-endian, pickled/object or of
// an unsupported dtype, or its byte size does not match its header.
NpzArrays read_npz(const std::string& path);

// Writes `arrays` as `path` (entries "name.npy", .npy format 1.0, stored uncompressed like numpy.savez).
// Tensors may live on any device and be non-contiguous; their dtype must be one of the table above
// (TORCH_CHECK otherwise). The write is atomic: a temporary file beside `path` is written, fsync'ed
// and renamed over `path`. Throws CheckpointError when the directory is not writable.
void write_npz(const std::string& path, const NpzArrays& arrays);

// One .npy file in memory (format 1.0, or 2.0 when the header does not fit 1.0): exposed for tests.
std::string encode_npy(const torch::Tensor& value);
// Parses one .npy image; `where` ("file.npz:array") prefixes error messages. Throws CheckpointError.
torch::Tensor decode_npy(const std::string& bytes, const std::string& where);

}  // namespace tips::io
