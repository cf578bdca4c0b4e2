#include "tips/eval/visualize.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "tips/core/error.h"

namespace tips::eval {

namespace {

// Background black, then the ten Fashion-MNIST classes in colours that stay distinct side by side.
constexpr uint8_t kBase[11][3] = {{0, 0, 0},       {230, 25, 75},  {60, 180, 75},   {255, 225, 25},
                                  {0, 130, 200},   {245, 130, 48}, {145, 30, 180},  {70, 240, 240},
                                  {240, 50, 230},  {210, 245, 60}, {250, 190, 212}};

cv::Mat to_mat(const torch::Tensor& rgb) {  // (H, W, 3) uint8 RGB -> BGR cv::Mat (owning)
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == torch::kUInt8,
              "visualize: tiles must be (H, W, 3) uint8, got ", rgb.sizes(), " ", rgb.scalar_type());
  const auto c = rgb.contiguous().cpu();
  cv::Mat view(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_8UC3, c.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

void write_mat(const std::string& path, const cv::Mat& m) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, m);
  } catch (const cv::Exception&) {
    ok = false;  // OpenCV throws for unknown extensions; report it like any other write failure
  }
  if (!ok) throw DataError("cannot write " + path, "check that the folder exists, is writable, and the name ends in .png");
}

cv::Scalar bgr_of(const torch::Tensor& palette, int64_t k) {
  const auto c = palette[k];
  return {double(c[2].item<uint8_t>()), double(c[1].item<uint8_t>()), double(c[0].item<uint8_t>())};
}

}  // namespace

torch::Tensor class_palette(int64_t num_classes) {
  TORCH_CHECK(num_classes >= 1, "class_palette: num_classes must be >= 1, got ", num_classes);
  auto p = torch::empty({num_classes, 3}, torch::kUInt8);
  auto a = p.accessor<uint8_t, 2>();
  for (int64_t k = 0; k < num_classes; ++k) {
    for (int c = 0; c < 3; ++c) {
      // Past the fixed table: a multiplicative hash, kept away from black.
      a[k][c] = k < 11 ? kBase[k][c] : static_cast<uint8_t>(64 + ((k * 2654435761u) >> (8 * c)) % 192);
    }
  }
  return p;
}

torch::Tensor colorize(const torch::Tensor& labels, const torch::Tensor& palette) {
  TORCH_CHECK(labels.dim() == 2 && palette.dim() == 2 && palette.size(1) == 3, "colorize: labels ", labels.sizes(),
              ", palette ", palette.sizes());
  const auto l = labels.to(torch::kCPU, torch::kLong);
  const auto valid = (l >= 0) & (l < palette.size(0));
  auto out = palette.index({l.clamp(0, palette.size(0) - 1)});  // (H, W, 3)
  return torch::where(valid.unsqueeze(-1), out, torch::full_like(out, 128));
}

torch::Tensor pca_rgb(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) >= 2, "pca_rgb: expected (N >= 2, D), got ",
              features.sizes());
  const auto x = features.to(torch::kCPU, torch::kDouble);
  const auto centred = x - x.mean(/*dim=*/0, /*keepdim=*/true);
  const auto usv = torch::linalg_svd(centred, /*full_matrices=*/false);
  auto v = std::get<2>(usv).narrow(0, 0, std::min<int64_t>(3, std::get<2>(usv).size(0))).t();  // (D, r)
  const auto pivot = v.abs().argmax(/*dim=*/0);                                                 // (r,)
  v = v * v.gather(0, pivot.unsqueeze(0)).sign();  // largest loading positive
  auto proj = torch::matmul(centred, v);                                       // (N, r)
  if (proj.size(1) < 3)  // fewer than 3 components (D < 3 or N < 4): pad with constant channels
    proj = torch::cat({proj, torch::zeros({proj.size(0), 3 - proj.size(1)}, proj.options())}, /*dim=*/1);
  const auto lo = std::get<0>(proj.min(0, true)), hi = std::get<0>(proj.max(0, true));
  const auto range = hi - lo;
  const auto scaled = torch::where(range > 1e-12, (proj - lo) / range.clamp_min(1e-12), torch::full_like(proj, 0.5));
  return scaled.to(torch::kFloat);
}

torch::Tensor to_rgb8(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "to_rgb8: expected (3, H, W), got ", image.sizes());
  const auto x = image.detach().to(torch::kCPU, torch::kFloat).clamp(0, 1);
  return (x * 255.0).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();  // (H, W, 3)
}

void write_panel_png(const std::string& path, const Panel& panel) {
  TORCH_CHECK(!panel.tiles.empty() && panel.tile_px >= 8, "write_panel_png: need tiles and tile_px >= 8");
  const int t = static_cast<int>(panel.tile_px), gap = 4, title_h = 18, n = static_cast<int>(panel.tiles.size());
  const int width = n * t + (n - 1) * gap;
  // Legend: a swatch and a name per class, wrapped to the panel width.
  const int cell_w = 110, row_h = 18, per_row = std::max(1, width / cell_w);
  const int legend_rows = (static_cast<int>(panel.legend_names.size()) + per_row - 1) / per_row;
  cv::Mat canvas(title_h + t + gap + legend_rows * row_h, width, CV_8UC3, cv::Scalar(255, 255, 255));
  for (int i = 0; i < n; ++i) {
    cv::Mat tile;
    cv::resize(to_mat(panel.tiles[i]), tile, cv::Size(t, t), 0, 0, cv::INTER_NEAREST);
    tile.copyTo(canvas(cv::Rect(i * (t + gap), title_h, t, t)));
    if (i < static_cast<int>(panel.titles.size()))
      cv::putText(canvas, panel.titles[i], {i * (t + gap) + 2, title_h - 5}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
                  cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  for (int k = 0; k < static_cast<int>(panel.legend_names.size()); ++k) {
    TORCH_CHECK(k < panel.palette.size(0), "write_panel_png: palette has ", panel.palette.size(0), " colours for ",
                panel.legend_names.size(), " names");
    const int x = (k % per_row) * cell_w, y = title_h + t + gap + (k / per_row) * row_h;
    cv::rectangle(canvas, cv::Rect(x + 2, y + 3, 12, 12), bgr_of(panel.palette, k), cv::FILLED);
    cv::rectangle(canvas, cv::Rect(x + 2, y + 3, 12, 12), cv::Scalar(90, 90, 90), 1);
    cv::putText(canvas, panel.legend_names[k], {x + 18, y + 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0),
                1, cv::LINE_AA);
  }
  write_mat(path, canvas);
}

void write_png(const std::string& path, const torch::Tensor& image) {
  if (image.dim() == 3) return write_mat(path, to_mat(image));
  TORCH_CHECK(image.dim() == 2 && image.scalar_type() == torch::kUInt8, "write_png: expected (H, W) or (H, W, 3) "
              "uint8, got ", image.sizes(), " ", image.scalar_type());
  const auto c = image.contiguous().cpu();
  write_mat(path, cv::Mat(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_8UC1, c.data_ptr<uint8_t>()));
}

}  // namespace tips::eval
