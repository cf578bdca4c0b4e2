#include "tips/data/image_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tips/core/error.h"

namespace tips::data {

namespace fs = std::filesystem;

namespace {

bool has_image_extension(const fs::path& p) {
  static const std::vector<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

}  // namespace

std::vector<std::string> read_text_lines(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw DataError(what + " '" + path + "' cannot be opened", "check the path");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::vector<ImageFile> list_image_files(const std::string& where) {
  std::vector<ImageFile> items;
  if (fs::is_directory(where)) {
    for (const auto& e : fs::directory_iterator(where))
      if (e.is_regular_file() && has_image_extension(e.path()))
        items.push_back({e.path().filename().string(), e.path().string()});
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  } else {
    const fs::path base = fs::path(where).parent_path();
    for (const auto& line : read_text_lines(where, "image list"))
      if (!line.empty()) items.push_back({line, fs::path(line).is_absolute() ? line : (base / line).string()});
  }
  if (items.empty())
    throw DataError("no images found in '" + where + "'", "give a folder of .jpg/.png files or a list file");
  return items;
}

torch::Tensor read_image_resized(const std::string& path, int64_t size) {
  TORCH_CHECK(size >= 1, "read_image_resized: size ", size, " < 1");
  const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty()) throw DataError("cannot decode image '" + path + "'", "is it a valid image file?");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  if (rgb.rows != size || rgb.cols != size) {
    const bool shrink = rgb.rows > size && rgb.cols > size;
    cv::resize(rgb, rgb, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0,
               shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  auto hwc = torch::from_blob(rgb.data, {size, size, 3}, torch::kUInt8).clone();
  return hwc.permute({2, 0, 1}).to(torch::kFloat).div_(255.0);
}

}  // namespace tips::data
