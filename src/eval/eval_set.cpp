#include "tips/eval/eval_set.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>

#include "tips/core/error.h"

namespace tips::eval {

namespace fs = std::filesystem;

namespace {

std::string resolve(const fs::path& dir, const std::string& p) {
  return fs::path(p).is_absolute() ? p : (dir / p).lexically_normal().string();
}

EvalRecord parse_record(const nlohmann::json& j, const fs::path& dir, const std::string& where) {
  if (!j.is_object() || !j.contains("image") || !j["image"].is_string())
    throw DataError(where + ": record has no string field \"image\"",
                    "each line must be a JSON object like {\"image\": \"images/0.png\", ...}");
  EvalRecord r;
  for (const auto& [key, value] : j.items()) {
    if (key == "image") {
      r.image = resolve(dir, value.get<std::string>());
    } else if (key == "mask" && value.is_string()) {
      r.mask = resolve(dir, value.get<std::string>());
    } else if (key == "label" && value.is_number_integer()) {
      r.label = value.get<int64_t>();
    } else if (value.is_string()) {
      r.texts[key] = value.get<std::string>();
    }
  }
  return r;
}

}  // namespace

EvalSplit read_eval_manifest(const std::string& path, int64_t max_records) {
  std::ifstream in(path);
  if (!in)
    throw DataError("eval manifest " + path + " cannot be opened",
                    "generate the data (tips data fashion-mosaic) or point eval.*_manifest at a JSONL file");
  EvalSplit split{path, {}};
  const fs::path dir = fs::path(path).parent_path();
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(where + ": invalid JSON (" + e.what() + ")", "one JSON object per line");
    }
    split.records.push_back(parse_record(j, dir, where));
    if (max_records > 0 && static_cast<int64_t>(split.records.size()) >= max_records) break;
  }
  return split;
}

std::vector<std::string> read_class_names(const std::string& manifest_path) {
  const fs::path p = fs::path(manifest_path).parent_path() / "classes.txt";
  std::ifstream in(p);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty())
    throw DataError("no class names: " + p.string() + " is missing or empty",
                    "set eval.class_names: [...] or put classes.txt (one name per line) beside the manifest");
  return names;
}

torch::Tensor load_images(const std::vector<EvalRecord>& records, int64_t begin, int64_t end, int64_t size) {
  TORCH_CHECK(0 <= begin && begin <= end && end <= static_cast<int64_t>(records.size()) && size >= 1,
              "load_images: range [", begin, ", ", end, ") of ", records.size(), " records, size ", size);
  auto out = torch::empty({end - begin, 3, size, size}, torch::kFloat);
  for (int64_t i = begin; i < end; ++i) {
    cv::Mat bgr = cv::imread(records[i].image, cv::IMREAD_COLOR);
    if (bgr.empty()) throw DataError("cannot read image " + records[i].image, "the file is missing or not an image");
    cv::Mat rgb, resized, f;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    if (rgb.rows != size || rgb.cols != size) {
      cv::resize(rgb, resized, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0, cv::INTER_CUBIC);
    } else {
      resized = rgb;
    }
    resized.convertTo(f, CV_32FC3, 1.0 / 255.0);  // bicubic overshoot is clamped below
    out[i - begin].copy_(torch::from_blob(f.data, {size, size, 3}, torch::kFloat).permute({2, 0, 1}));
  }
  return out.clamp_(0.0, 1.0);
}

torch::Tensor read_label_map(const std::string& path) {
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw DataError("cannot read label map " + path, "the file is missing or not an image");
  if (m.type() != CV_8UC1)
    throw DataError("label map " + path + " is not 8-bit single-channel (OpenCV type " + std::to_string(m.type()) + ")",
                    "label maps are 8-bit gray PNGs: 0 = background, k + 1 = class k");
  return torch::from_blob(m.data, {m.rows, m.cols}, torch::kUInt8).to(torch::kLong);
}

torch::Tensor record_label_map(const EvalSplit& split, size_t index) {
  const auto& rec = split.records.at(index);
  if (rec.mask.empty())
    throw DataError(split.manifest + ": record " + std::to_string(index) + " (" + rec.image + ") has no mask",
                    "segmentation needs a \"mask\" label-map path per record");
  return read_label_map(rec.mask);
}

}  // namespace tips::eval
