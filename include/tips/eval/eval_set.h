// tips/eval/eval_set.h - the evaluation splits as plain records, read from a JSONL manifest (one object per
// line: image, optional mask / label / caption fields), and the image / label-map loading for them.
// Deliberately independent of the training loader: no augmentation, no shuffling, file order.
//
// Example:
//   EvalSplit split = read_eval_manifest("data/fashion_mosaic/test.jsonl", /*max_records=*/500);
//   torch::Tensor x = load_images(split.records, 0, 64, /*size=*/112);   // (64, 3, 112, 112) in [0, 1]
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tips::eval {

struct EvalRecord {
  std::string image;                           // absolute or manifest-relative path, resolved
  std::string mask;                            // label map path ("" when the record has none)
  int64_t label = -1;                          // class id (-1 when absent)
  std::map<std::string, std::string> texts;    // every other string field (alt_text, caption_medium, ...)
};

struct EvalSplit {
  std::string manifest;              // the file it came from
  std::vector<EvalRecord> records;   // in file order
};

// Reads `path` (JSONL). Paths in the file are relative to its folder. max_records > 0 keeps the first ones.
// Throws DataError naming file:line for a missing file, bad JSON or a record without "image".
EvalSplit read_eval_manifest(const std::string& path, int64_t max_records = 0);

// Class names from classes.txt next to the manifest (one per line, blank lines skipped).
// Throws DataError when the file is missing or empty.
std::vector<std::string> read_class_names(const std::string& manifest_path);

// records[begin, end) decoded as RGB, resized to size x size (bicubic, clamped): (end-begin, 3, size, size)
// float in [0, 1] on CPU. Throws DataError naming an unreadable file.
torch::Tensor load_images(const std::vector<EvalRecord>& records, int64_t begin, int64_t end, int64_t size);

// An 8-bit single-channel label map at its stored size: (H, W) int64. Throws DataError otherwise.
torch::Tensor read_label_map(const std::string& path);

// The label map of split.records[index]; DataError naming the record when it has no "mask" path.
torch::Tensor record_label_map(const EvalSplit& split, size_t index);

}  // namespace tips::eval
