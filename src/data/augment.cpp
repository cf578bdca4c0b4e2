#include "tips/data/augment.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tips/core/error.h"

namespace tips::data {

namespace {

constexpr int kCropTries = 10;                     // torchvision RandomResizedCrop
constexpr double kAspectMin = 3.0 / 4.0, kAspectMax = 4.0 / 3.0;
constexpr double kBrightness = 0.4, kContrast = 0.4, kSaturation = 0.2;  // DINO colour-jitter strengths
constexpr double kBlurSigmaMin = 0.1, kBlurSigmaMax = 2.0;
constexpr int kSolarizeThreshold = 128;

std::string head_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

cv::Mat as_mat(const Image& img) {
  return cv::Mat(static_cast<int>(img.height), static_cast<int>(img.width), CV_8UC3,
                 const_cast<uint8_t*>(img.rgb.data()));
}

// Brightness, contrast, saturation in that fixed order (torchvision shuffles the order; we keep the rng simple).
void color_jitter(cv::Mat& rgb, rng::SplitMix& r) {
  const double b = r.uniform(1 - kBrightness, 1 + kBrightness);
  const double c = r.uniform(1 - kContrast, 1 + kContrast);
  const double s = r.uniform(1 - kSaturation, 1 + kSaturation);
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3, b);
  cv::Mat gray;
  cv::cvtColor(f, gray, cv::COLOR_RGB2GRAY);
  const double mean = cv::mean(gray)[0];
  f = (f - cv::Scalar::all(mean)) * c + cv::Scalar::all(mean);
  cv::cvtColor(f, gray, cv::COLOR_RGB2GRAY);
  cv::Mat gray3;
  cv::cvtColor(gray, gray3, cv::COLOR_GRAY2RGB);
  f = (f - gray3) * s + gray3;
  f.convertTo(rgb, CV_8UC3);  // saturating cast clamps to [0, 255]
}

void photometric(cv::Mat& rgb, const Photometric& p, rng::SplitMix& r) {
  if (p.jitter) color_jitter(rgb, r);
  if (p.grayscale) {
    cv::Mat gray;
    cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
    cv::cvtColor(gray, rgb, cv::COLOR_GRAY2RGB);
  }
  if (p.blur) cv::GaussianBlur(rgb, rgb, cv::Size(0, 0), r.uniform(kBlurSigmaMin, kBlurSigmaMax));
  if (p.solarize) {
    for (int y = 0; y < rgb.rows; ++y) {
      uint8_t* row = rgb.ptr<uint8_t>(y);
      for (int x = 0; x < rgb.cols * 3; ++x)
        if (row[x] >= kSolarizeThreshold) row[x] = static_cast<uint8_t>(255 - row[x]);
    }
  }
}

void check_probability(const char* name, double p) {
  if (!(p >= 0 && p <= 1))
    throw ConfigError(std::string("data.crops.") + name + " must be in [0, 1], got " + std::to_string(p), "");
}

}  // namespace

Image decode_image(const std::string& bytes) {
  const std::string hint = "the sample is skipped and listed in the quarantine log; re-encode or remove the file";
  if (bytes.empty()) throw DataError("decode_image: empty image data (0 bytes)", hint);
  const bool jpeg = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
                    static_cast<unsigned char>(bytes[1]) == 0xD8;
  if (jpeg && bytes.rfind("\xFF\xD9") == std::string::npos)
    throw DataError("decode_image: truncated JPEG (" + std::to_string(bytes.size()) +
                        " bytes, no end-of-image marker)", hint);
  cv::Mat bgr;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    bgr = cv::imdecode(buf, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw DataError("decode_image: OpenCV failed on " + std::to_string(bytes.size()) + " bytes: " + e.what(), hint);
  }
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw DataError("decode_image: not a decodable image (" + std::to_string(bytes.size()) + " bytes, starting " +
                        head_hex(bytes) + ")", hint);
  Image img;
  img.height = bgr.rows;
  img.width = bgr.cols;
  img.rgb.resize(static_cast<size_t>(img.height * img.width * 3));
  cv::Mat rgb = as_mat(img);
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // same size and type: written in place into img.rgb
  return img;
}

std::string encode_image(const Image& img, const std::string& ext, int quality) {
  TORCH_CHECK(static_cast<int64_t>(img.rgb.size()) == img.height * img.width * 3, "encode_image: ",
              img.rgb.size(), " bytes for a ", img.height, "x", img.width, " RGB image");
  cv::Mat bgr;
  cv::cvtColor(as_mat(img), bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> out;
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, quality};
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, out, params);
  } catch (const cv::Exception& e) {
    throw DataError("encode_image: OpenCV failed for '" + ext + "': " + e.what(), "use .jpg or .png");
  }
  if (!ok) throw DataError("encode_image: could not encode as '" + ext + "'", "use .jpg or .png");
  return std::string(out.begin(), out.end());
}

CropBox random_resized_crop_box(int64_t img_h, int64_t img_w, double scale_min, double scale_max,
                                rng::SplitMix& r) {
  TORCH_CHECK(img_h >= 1 && img_w >= 1, "random_resized_crop_box: empty image ", img_h, "x", img_w);
  const double area = static_cast<double>(img_h * img_w);
  const double log_a0 = std::log(kAspectMin), log_a1 = std::log(kAspectMax);
  for (int t = 0; t < kCropTries; ++t) {
    const double target = area * r.uniform(scale_min, scale_max);
    const double aspect = std::exp(r.uniform(log_a0, log_a1));  // width / height
    const int64_t w = std::llround(std::sqrt(target * aspect));
    const int64_t h = std::llround(std::sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= img_w && h <= img_h) {
      const int64_t top = r.randint(0, img_h - h + 1);
      const int64_t left = r.randint(0, img_w - w + 1);
      return {top, left, h, w, false};
    }
  }
  // Fallback: the whole image, narrowed to the nearest allowed aspect when it is too wide or too tall.
  const double in_ratio = static_cast<double>(img_w) / static_cast<double>(img_h);
  int64_t w = img_w, h = img_h;
  if (in_ratio < kAspectMin) {
    h = std::min<int64_t>(img_h, std::llround(static_cast<double>(w) / kAspectMin));
  } else if (in_ratio > kAspectMax) {
    w = std::min<int64_t>(img_w, std::llround(static_cast<double>(h) * kAspectMax));
  }
  return {(img_h - h) / 2, (img_w - w) / 2, h, w, false};
}

void crop_to_tensor(const Image& img, const CropBox& box, int64_t size, const Photometric& photo,
                    rng::SplitMix& r, const torch::Tensor& out) {
  TORCH_CHECK(out.dim() == 3 && out.size(0) == 3 && out.size(1) == size && out.size(2) == size &&
                  out.scalar_type() == torch::kFloat && out.is_contiguous(),
              "crop_to_tensor: out must be contiguous float32 (3, ", size, ", ", size, "), got ", out.sizes());
  TORCH_CHECK(box.top >= 0 && box.left >= 0 && box.height >= 1 && box.width >= 1 &&
                  box.top + box.height <= img.height && box.left + box.width <= img.width,
              "crop_to_tensor: box (top ", box.top, ", left ", box.left, ", ", box.height, "x", box.width,
              ") outside the ", img.height, "x", img.width, " image");
  const cv::Mat roi = as_mat(img)(cv::Rect(static_cast<int>(box.left), static_cast<int>(box.top),
                                           static_cast<int>(box.width), static_cast<int>(box.height)));
  const int s = static_cast<int>(size);
  cv::Mat crop;
  if (box.width == size && box.height == size) {
    crop = roi.clone();
  } else {
    const int interp = box.width > size && box.height > size ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(roi, crop, cv::Size(s, s), 0, 0, interp);
  }
  photometric(crop, photo, r);
  float* dst = out.data_ptr<float>();
  const int64_t plane = size * size;
  constexpr float kScale = 1.0f / 255.0f;
  for (int y = 0; y < s; ++y) {
    const uint8_t* row = crop.ptr<uint8_t>(y);
    float* d0 = dst + y * size;
    for (int x = 0; x < s; ++x) {
      const uint8_t* px = row + 3 * (box.flip ? s - 1 - x : x);
      d0[x] = px[0] * kScale;
      d0[x + plane] = px[1] * kScale;
      d0[x + 2 * plane] = px[2] * kScale;
    }
  }
}

MultiCropAugment::MultiCropAugment(const CropConfig& cfg) : cfg_(cfg) {
  if (cfg.global_count < 1 || cfg.global_size < 1 || cfg.local_count < 0 || cfg.local_size < 1)
    throw ConfigError("data.crops: need global_count >= 1, sizes >= 1, local_count >= 0; got global " +
                          std::to_string(cfg.global_count) + "x" + std::to_string(cfg.global_size) + ", local " +
                          std::to_string(cfg.local_count) + "x" + std::to_string(cfg.local_size),
                      "TIPSv2: 1 global crop of 224 and 6 local crops of 98");
  const std::pair<double, double> scales[] = {{cfg.global_scale_min, cfg.global_scale_max},
                                              {cfg.local_scale_min, cfg.local_scale_max}};
  for (const auto& [lo, hi] : scales)
    if (!(lo > 0 && lo <= hi && hi <= 1))
      throw ConfigError("data.crops: scale range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                            "] must satisfy 0 < min <= max <= 1", "e.g. global 0.32..1.0, local 0.05..0.32");
  check_probability("flip_prob", cfg.flip_prob);
  check_probability("color_jitter_prob", cfg.color_jitter_prob);
  check_probability("grayscale_prob", cfg.grayscale_prob);
  check_probability("blur_prob", cfg.blur_prob);
  check_probability("solarize_prob", cfg.solarize_prob);
}

void MultiCropAugment::one_crop(const Image& img, int64_t size, double scale_min, double scale_max,
                                rng::SplitMix& r, torch::Tensor out) const {
  CropBox box = random_resized_crop_box(img.height, img.width, scale_min, scale_max, r);
  box.flip = r.bernoulli(cfg_.flip_prob);
  // An op with probability 0 consumes no draw: the default (all off) stream is box + flip only.
  const auto maybe = [&](double p) { return p > 0 && r.bernoulli(p); };
  Photometric photo;
  photo.jitter = maybe(cfg_.color_jitter_prob);
  photo.grayscale = maybe(cfg_.grayscale_prob);
  photo.blur = maybe(cfg_.blur_prob);
  photo.solarize = maybe(cfg_.solarize_prob);
  crop_to_tensor(img, box, size, photo, r, out);
}

void MultiCropAugment::apply(const Image& img, rng::SplitMix& r, torch::Tensor global, torch::Tensor local) const {
  TORCH_CHECK(global.sizes() == torch::IntArrayRef({cfg_.global_count, 3, cfg_.global_size, cfg_.global_size}),
              "MultiCropAugment::apply: global must be (", cfg_.global_count, ", 3, ", cfg_.global_size, ", ",
              cfg_.global_size, "), got ", global.sizes());
  for (int64_t g = 0; g < cfg_.global_count; ++g)
    one_crop(img, cfg_.global_size, cfg_.global_scale_min, cfg_.global_scale_max, r, global[g]);
  if (cfg_.local_count == 0) return;
  TORCH_CHECK(local.sizes() == torch::IntArrayRef({cfg_.local_count, 3, cfg_.local_size, cfg_.local_size}),
              "MultiCropAugment::apply: local must be (", cfg_.local_count, ", 3, ", cfg_.local_size, ", ",
              cfg_.local_size, "), got ", local.sizes());
  for (int64_t m = 0; m < cfg_.local_count; ++m)
    one_crop(img, cfg_.local_size, cfg_.local_scale_min, cfg_.local_scale_max, r, local[m]);
}

MultiCrop MultiCropAugment::operator()(const Image& img, rng::SplitMix& r) const {
  MultiCrop out;
  out.global = torch::empty({cfg_.global_count, 3, cfg_.global_size, cfg_.global_size}, torch::kFloat);
  if (cfg_.local_count > 0)
    out.local = torch::empty({cfg_.local_count, 3, cfg_.local_size, cfg_.local_size}, torch::kFloat);
  apply(img, r, out.global, out.local);
  return out;
}

}  // namespace tips::data
