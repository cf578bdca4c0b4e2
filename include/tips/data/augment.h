// tips/data/augment.h - image decoding and multi-crop augmentation on OpenCV (no OpenCV in this header).
// Not masking (masking.h) and not batching (loader.h).
//
// Pipeline per crop (torchvision semantics): random resized crop (area fraction ~ U[scale_min, scale_max],
// aspect w/h log-uniform in [3/4, 4/3], centre-crop fallback after 10 rejected draws) -> resize to S x S ->
// horizontal flip -> optional colour jitter / grayscale / Gaussian blur / solarize (all off by default) ->
// float32 CHW in [0, 1]. Resizing uses cv::INTER_AREA when the crop is larger than S in both dimensions
// (a box filter, close to PIL's antialiased bilinear that torchvision applies) and cv::INTER_LINEAR otherwise.
// Every draw comes from the caller's rng::SplitMix, in a fixed order, so a (seed, image) pair fixes the output.
//
// Example:
//   tips::data::Image img = tips::data::decode_image(sample.image_bytes);   // throws DataError
//   tips::data::MultiCropAugment aug(cfg.crops);
//   tips::rng::SplitMix r(sample_seed);
//   auto crops = aug(img, r);   // crops.global (G, 3, Sg, Sg), crops.local (M, 3, Sl, Sl) float32
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tips/core/rng.h"
#include "tips/data/config.h"

namespace tips::data {

// Decoded image: HWC, RGB, uint8, rows contiguous (rgb.size() == height * width * 3).
struct Image {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;
};

// Encoded PNG/JPEG/WebP/BMP bytes -> RGB image. Grayscale becomes 3 equal channels, alpha is dropped.
// Throws DataError (with the byte count and reason) for empty, undecodable or truncated data; a JPEG
// without an end-of-image marker counts as truncated (libjpeg would silently grey-fill the missing rows).
Image decode_image(const std::string& bytes);

// RGB image -> encoded bytes. ext: ".jpg" (quality 1..100 applies) or ".png". Throws DataError on failure.
std::string encode_image(const Image& img, const std::string& ext, int quality = 90);

// A crop rectangle in source pixels plus the flip decision.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
};

// torchvision RandomResizedCrop.get_params for an image of img_h x img_w: up to 10 draws of
// (area fraction in [scale_min, scale_max], log-uniform aspect in [3/4, 4/3]), first that fits wins;
// otherwise the largest centre crop with aspect clamped to [3/4, 4/3]. flip is not drawn here (false).
CropBox random_resized_crop_box(int64_t img_h, int64_t img_w, double scale_min, double scale_max,
                                rng::SplitMix& r);

// Photometric options for one crop (all false by default = TIPSv2). Strengths are DINO's:
// brightness/contrast 0.4, saturation 0.2 (no hue), blur sigma ~ U[0.1, 2], solarize threshold 128.
struct Photometric {
  bool jitter = false, grayscale = false, blur = false, solarize = false;
};

// Crops `box` out of img, resizes to size x size, flips when box.flip, applies `photo` drawing jitter/blur
// parameters from r, and writes float32 (3, size, size) in [0, 1] into `out` (must be that shape, contiguous).
void crop_to_tensor(const Image& img, const CropBox& box, int64_t size, const Photometric& photo,
                    rng::SplitMix& r, const torch::Tensor& out);

struct MultiCrop {
  torch::Tensor global;  // (G, 3, Sg, Sg) float32 in [0, 1]
  torch::Tensor local;   // (M, 3, Sl, Sl) float32 in [0, 1]; undefined when M == 0
};

class MultiCropAugment {
 public:
  // Throws ConfigError for counts < 0, sizes < 1, scale ranges outside (0, 1] or probabilities outside [0, 1].
  explicit MultiCropAugment(const CropConfig& cfg);

  // Per crop, in order (globals first): box draws, flip draw, then one draw per enabled photometric op.
  MultiCrop operator()(const Image& img, rng::SplitMix& r) const;

  // Same, writing into preallocated global (G, 3, Sg, Sg) and local (M, 3, Sl, Sl) tensors (or slices of them).
  void apply(const Image& img, rng::SplitMix& r, torch::Tensor global, torch::Tensor local) const;

  const CropConfig& config() const { return cfg_; }

 private:
  void one_crop(const Image& img, int64_t size, double scale_min, double scale_max, rng::SplitMix& r,
                torch::Tensor out) const;
  CropConfig cfg_;
};

}  // namespace tips::data
