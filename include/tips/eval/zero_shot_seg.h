// tips/eval/zero_shot_seg.h - zero-shot semantic segmentation by patch-text cosine (TIPS / MaskCLIP protocol):
// no training, no decoder; each patch takes the class whose prompt-ensemble text embedding it is closest to.
//   whole: one pass at the eval resolution, bilinear upsample of the cosines to the label size, argmax.
//   slide: (TCL protocol) square windows; per window the cosines are upsampled to the window, turned into
//          class probabilities by a softmax without temperature, summed into the canvas and divided by the
//          number of windows covering each pixel; then upsampled to the label size and argmax.
// Pure tensor functions: the model forward is passed in as a function (see evaluator.h), metrics are in
// confusion.h.
//
// Legend: B images, N = h*w patches, D width, C classes, (h, w) patch grid, (H, W) pixels.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "tips/eval/config.h"
#include "tips/model/vit.h"

namespace tips::eval {

// The patch features of a readout, (B, N, D): value_patches, patches, penultimate_patches or attribution_patches
// (TORCH_CHECK that the forward computed them: VisionTransformer::forward with dense_readouts for all but final).
torch::Tensor segmentation_features(const model::VisionOutput& out, SegReadout readout);

// Cosine of every patch with every class: patches (B, N, D) (any norm), text (C, D) (any norm),
// N == grid_h * grid_w, row-major grid. Returns (B, C, grid_h, grid_w) float in [-1, 1].
torch::Tensor patch_text_scores(const torch::Tensor& patches, const torch::Tensor& text, int64_t grid_h,
                                int64_t grid_w);

// Bilinear (align_corners = false) resize of per-class maps: (B, C, h, w) -> (B, C, out_h, out_w) float.
torch::Tensor upsample_scores(const torch::Tensor& scores, int64_t out_h, int64_t out_w);

// "whole" mode decision: (B, C, h, w) scores -> (B, out_h, out_w) int64 class ids (argmax after upsampling).
torch::Tensor predict_whole(const torch::Tensor& scores, int64_t out_h, int64_t out_w);

// Top-left corners of the windows along one axis of length `size` (mmseg's slide rule): starts at 0, k * stride,
// the last window is shifted back to end at `size`; one window (start 0) when window >= size.
std::vector<int64_t> window_starts(int64_t size, int64_t window, int64_t stride);

// images (b, 3, wh, ww) -> cosine scores (b, C, gh, gw) on the window's patch grid.
using WindowScorer = std::function<torch::Tensor(const torch::Tensor&)>;

struct SlideWindow {
  int64_t window = 448;  // window side in pixels (clamped to the image side)
  int64_t stride = 336;  // pixels between window starts
};

// "slide" mode: images (B, 3, H, W) -> (B, C, H, W) float, the average over covering windows of
// softmax_C(upsample(score(window))). Every pixel is covered by >= 1 window; rows sum to 1 over C.
// readouts > 1: score(window) holds that many readouts' scores side by side along dim 1 (R blocks of C classes,
// one ViT forward per window for all of them); each block gets its own softmax, and the result keeps the blocks:
// (B, R * C, H, W).
torch::Tensor slide_probabilities(const torch::Tensor& images, const SlideWindow& sw, const WindowScorer& score,
                                  int64_t readouts = 1);

// Label map (H, W) of the mosaic convention (0 = background, k + 1 = class k; any integer dtype) -> targets
// (H, W) int64 for a ConfusionMatrix. with_background: the background is class 0 and class k is k + 1
// (unchanged values). Without: class k is k and the background pixels become `ignore_index`.
torch::Tensor segmentation_targets(const torch::Tensor& label_map, bool with_background, int64_t ignore_index = 255);

}  // namespace tips::eval
