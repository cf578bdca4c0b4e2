// tips/io/tips_checkpoint.h - weights in and out in the official TIPS layout: an .npz pair (image encoder,
// text encoder), one float32 array per parameter named by its state-dict key
// (docs/checkpoint_format.md). This is not the training checkpoint (train/checkpoint.h):
// no optimizer, heads, teacher or step, only the two towers.
//
// Works on torch::nn::Module::named_parameters(), so any module whose parameter names are the official
// keys (model/vit.h, model/text_encoder.h) can be exported and imported. Buffers are not part of the format.
//
// Example:
//   export_official(*vit, *text, OfficialPaths::in_dir("out"), /*temperature=*/0.01);
//   import_image_encoder("out/image_encoder.npz", *vit);            // strict: keys and shapes must match
//   TextScalars s = import_text_encoder("out/text_encoder.npz", *text);
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "tips/io/npz.h"

namespace tips::io {

// File names of the pair; in_dir(d) gives d/image_encoder.npz and d/text_encoder.npz.
struct OfficialPaths {
  std::string image_npz;
  std::string text_npz;
  static OfficialPaths in_dir(const std::string& dir);
};

// Scalars the text file may carry besides the weights (the reference loader drops them).
struct TextScalars {
  std::optional<float> temperature;              // array `temperature`, shape ()
  std::optional<float> temperature_contrastive;  // array `temperature_contrastive`, shape ()
};

// Every parameter of `module` as a float32 CPU array named by its key, in registration order.
NpzArrays module_arrays(const torch::nn::Module& module);

// Writes the image-encoder file (vision parameters only). Atomic (tmp file, fsync, rename).
void export_image_encoder(const torch::nn::Module& vision, const std::string& path);
// Writes the text-encoder file; `scalars` that are set become 0-d float32 arrays. Atomic.
void export_text_encoder(const torch::nn::Module& text, const std::string& path, const TextScalars& scalars = {});
// Both files; `temperature`, when given, is stored as the text file's `temperature` scalar.
void export_official(const torch::nn::Module& vision, const torch::nn::Module& text, const OfficialPaths& paths,
                     std::optional<float> temperature = std::nullopt);

// Strict load into `module`'s parameters (copied in place, keeping each parameter's device and dtype):
// every parameter key must be in the file, the file must hold no other array, shapes must be equal and
// arrays must be floating point. Throws CheckpointError naming the file and the first missing, extra or
// mismatched key (with both shapes); on error no parameter has been modified.
void import_image_encoder(const std::string& path, torch::nn::Module& vision);
// As above; the 0-d scalars `temperature` / `temperature_contrastive` are also allowed and returned.
TextScalars import_text_encoder(const std::string& path, torch::nn::Module& text);

}  // namespace tips::io
