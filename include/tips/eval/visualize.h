// tips/eval/visualize.h - pictures for a human: coloured label maps with a fixed palette, a PCA-to-RGB view of
// patch features, and a side-by-side panel (image | ground truth | prediction | PCA) with a legend, as PNG.
// Tensors in, files out; OpenCV stays inside the .cpp.
//
// Legend: N = h*w patches, D width, K classes, (H, W) pixels.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tips::eval {

// (K, 3) uint8 RGB: class 0 black (background), then 10 well-separated colours, then deterministic
// hashed colours for K > 11.
torch::Tensor class_palette(int64_t num_classes);

// labels (H, W) integer -> (H, W, 3) uint8 RGB; values outside [0, K) (e.g. ignore = 255) are mid grey.
torch::Tensor colorize(const torch::Tensor& labels, const torch::Tensor& palette);

// Projection of features (N, D) onto their top-3 principal components (mean removed; SVD), each component
// min-max scaled to [0, 1] (a constant component maps to 0.5): (N, 3) float. The sign of each component is
// fixed so that its largest-magnitude loading is positive (deterministic colours). Needs N >= 2.
torch::Tensor pca_rgb(const torch::Tensor& features);

// image (3, H, W) float in [0, 1] -> (H, W, 3) uint8.
torch::Tensor to_rgb8(const torch::Tensor& image);

struct Panel {
  std::vector<torch::Tensor> tiles;        // (H_i, W_i, 3) uint8 RGB, shown left to right
  std::vector<std::string> titles;         // one per tile ("" = none)
  std::vector<std::string> legend_names;   // class names in palette order ("" = no legend)
  torch::Tensor palette;                   // (K, 3) uint8, K >= legend_names.size()
  int64_t tile_px = 224;                   // every tile is resized (nearest) to tile_px x tile_px
};

// Writes an (H, W, 3) RGB or (H, W) gray uint8 tensor as PNG. Throws DataError when it cannot be written.
void write_png(const std::string& path, const torch::Tensor& image);

// Renders the panel (titles above the tiles, legend strip below) and writes it as PNG.
// Throws DataError when the file cannot be written.
void write_panel_png(const std::string& path, const Panel& panel);

}  // namespace tips::eval
