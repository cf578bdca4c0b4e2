// tips/data/sample.h - what flows from a data source to the trainer.
//   RawSample: one undecoded record from a manifest line or a tar-shard member group.
//   Batch:     B augmented, masked, tokenised samples, crops of one size stacked.
// Legend: B batch (per rank), G global crops, M local crops, Sg/Sl crop sides, N patches of a global crop,
//         L text length.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace tips::data {

struct RawSample {
  std::string key;                              // unique id: manifest "file:line" or tar "shard/key"
  std::string image_bytes;                      // encoded PNG/JPEG/WebP as read from disk/tar (not decoded)
  std::string image_path;                       // where it came from (for error messages / quarantine)
  std::map<std::string, std::string> captions;  // caption field -> text (alt_text, caption_medium, ...)
  int64_t label = -1;                           // class id, -1 when unknown
  std::string label_map_path;                   // per-pixel label PNG (segmentation eval), "" when none
};

struct Batch {
  torch::Tensor global_crops;              // (G, B, 3, Sg, Sg) float32 in [0, 1]
  torch::Tensor local_crops;               // (M, B, 3, Sl, Sl) float32 in [0, 1]; undefined when M == 0
  torch::Tensor masks;                     // (G, B, N) bool, true = patch replaced by mask_token
  torch::Tensor tokens1;                   // (B, L) int64, caption stream 1 (-> CLS1), 0 = padding
  torch::Tensor tokens2;                   // (B, L) int64, caption stream 2 (-> CLS2)
  std::vector<std::string> captions1;      // the raw drawn captions (logging, retrieval eval)
  std::vector<std::string> captions2;
  std::vector<std::string> caption2_fields;// which field stream 2 drew per sample (e.g. caption_long)
  int64_t caption_fallbacks = 0;           // samples whose drawn caption field was missing and replaced by
                                           // data.captions.fallback_field (either stream); logged per step
  torch::Tensor labels;                    // (B,) int64, -1 unknown
  std::vector<std::string> keys;           // RawSample::key per sample
  int64_t size() const { return static_cast<int64_t>(keys.size()); }
};

// The tensors the step reads (crops, masks, token ids) on `device`; labels, keys and captions stay on the host.
// Non-blocking on CUDA: the Loader's batches are in pinned memory.
Batch to_device(const Batch& batch, const torch::Device& device);

}  // namespace tips::data
