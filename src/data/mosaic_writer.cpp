// generate_fashion_mosaic(): draws, renders and writes every split in parallel (manifests, PNGs, corpus).
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>
#include <tuple>

#include "permutation.h"
#include "tips/core/error.h"
#include "tips/data/fashion_mosaic.h"

namespace tips::data {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SplitPlan {
  std::string name;    // "train", "single_test", ...
  uint64_t id;         // stream id in derive(seed, id, index)
  bool single;
  int64_t count;
  const FashionMnist* pool;
  bool corpus;         // its captions go into corpus.txt
};

struct Canvas {
  std::string line;          // manifest JSON line
  MosaicCaptions captions;
};

json meta_of(const MosaicOptions& o) {
  // Version 3: the val splits, drawn from the last sixth of the train images, which the train splits no longer use.
  json meta{{"format", "tips-fashion-mosaic"}, {"version", 3},       {"size", o.size},
            {"seed", o.seed},                  {"train_count", o.train_count}, {"test_count", o.test_count},
            {"single_train_count", o.single_train_count}, {"single_test_count", o.single_test_count},
            {"val_count", o.val_count},        {"single_val_count", o.single_val_count}};
  // Only what differs from the defaults is recorded (version 2 changed the default caption style).
  const CaptionStyle& c = o.captions;
  if (!c.is_default()) {
    meta["captions"] = json{{"colors", kCaptionColorsNames.at(static_cast<size_t>(c.colors)).first},
                            {"alt_subject", kAltTextSubjectNames.at(static_cast<size_t>(c.alt_subject)).first},
                            {"alt_wrong", c.alt_wrong},
                            {"alt_generic", c.alt_generic}};
  }
  const MosaicOptions d;
  if (o.item_min_fraction != d.item_min_fraction || o.item_max_fraction != d.item_max_fraction)
    meta["item_fraction"] = json{{"min", o.item_min_fraction}, {"max", o.item_max_fraction}};
  if (o.placement != d.placement)
    meta["placement"] = kMosaicPlacementNames.at(static_cast<size_t>(o.placement)).first;
  if (o.min_items != d.min_items || o.max_items != d.max_items)
    meta["items"] = json{{"min", o.min_items}, {"max", o.max_items}};
  if (o.label_threshold != d.label_threshold) meta["label_threshold"] = o.label_threshold;
  if (o.class_colors) meta["class_colors"] = true;
  return meta;
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    if (!f) throw DataError("cannot write " + tmp.string(), "check that the output folder is writable");
  }
  fs::rename(tmp, path);
}

void write_png(const fs::path& path, const cv::Mat& m, int compression) {
  if (!cv::imwrite(path.string(), m, {cv::IMWRITE_PNG_COMPRESSION, compression}))
    throw DataError("cannot write " + path.string(), "check that the output folder is writable");
}

Canvas make_canvas(const MosaicOptions& o, const MosaicLayout& layout, const SplitPlan& split, int64_t index,
                   const std::vector<int64_t>& single_order) {
  rng::SplitMix gen(rng::derive(o.seed, split.id, static_cast<uint64_t>(index)));
  const int64_t source = split.single ? single_order[index % single_order.size()] : -1;
  const MosaicCanvasSpec spec = draw_canvas(layout, *split.pool, split.single, source, gen);
  Canvas out;
  out.captions = make_captions(spec, gen, o.captions);
  std::vector<uint8_t> rgb, labels;
  render_canvas(layout, spec, *split.pool, rgb, labels);
  char stem[32];
  std::snprintf(stem, sizeof(stem), "%06lld.png", static_cast<long long>(index));
  const std::string image = "images/" + split.name + "/" + stem;
  const std::string mask = "masks/" + split.name + "/" + stem;
  const int side = static_cast<int>(spec.canvas);
  cv::Mat bgr(side, side, CV_8UC3);
  for (int64_t p = 0; p < spec.canvas * spec.canvas; ++p)
    for (int ch = 0; ch < 3; ++ch) bgr.data[p * 3 + ch] = rgb[p * 3 + (2 - ch)];
  write_png(fs::path(o.out_dir) / image, bgr, o.png_compression);
  write_png(fs::path(o.out_dir) / mask, cv::Mat(side, side, CV_8UC1, labels.data()), o.png_compression);
  out.line = json{{"image", image},
                  {"alt_text", out.captions.alt_text},
                  {"caption_medium", out.captions.caption_medium},
                  {"caption_long", out.captions.caption_long},
                  {"label", spec.label},
                  {"mask", mask}}
                 .dump();
  return out;
}

// Runs make_canvas for every index of a split on `threads` threads; the output does not depend on threads.
std::vector<Canvas> make_split(const MosaicOptions& o, const MosaicLayout& layout, const SplitPlan& split,
                               int64_t threads) {
  fs::remove_all(fs::path(o.out_dir) / "images" / split.name);
  fs::remove_all(fs::path(o.out_dir) / "masks" / split.name);
  fs::create_directories(fs::path(o.out_dir) / "images" / split.name);
  fs::create_directories(fs::path(o.out_dir) / "masks" / split.name);
  // Single-item splits walk a seeded permutation of the pool: distinct items while count <= pool size.
  const auto order = split.single ? detail::seeded_permutation(split.pool->size(), rng::derive(o.seed, split.id))
                                  : std::vector<int64_t>{};
  std::vector<Canvas> canvases(static_cast<size_t>(split.count));
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (int64_t i = next++; i < split.count; i = next++) canvases[i] = make_canvas(o, layout, split, i, order);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = split.count;
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return canvases;
}

bool up_to_date(const MosaicOptions& o, const std::vector<SplitPlan>& splits) {
  const fs::path meta = fs::path(o.out_dir) / "meta.json";
  if (!fs::exists(meta)) return false;
  std::ifstream f(meta);
  const json found = json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (found != meta_of(o)) return false;
  for (const auto& s : splits)
    if (s.count > 0 && !fs::exists(fs::path(o.out_dir) / (s.name + ".jsonl"))) return false;
  return fs::exists(fs::path(o.out_dir) / "train_all.jsonl");
}

void validate_options(const MosaicOptions& o) {
  const std::pair<const char*, int64_t> counts[] = {{"train_count", o.train_count},
                                                     {"test_count", o.test_count},
                                                     {"single_train_count", o.single_train_count},
                                                     {"single_test_count", o.single_test_count},
                                                     {"val_count", o.val_count},
                                                     {"single_val_count", o.single_val_count}};
  for (const auto& [name, count] : counts)
    if (count < 0) throw DataError(std::string("fashion mosaic: ") + name + " = " + std::to_string(count),
                                   "counts must be >= 0");
  if (o.png_compression < 0 || o.png_compression > 9)
    throw DataError("fashion mosaic: png_compression = " + std::to_string(o.png_compression), "use 0..9");
  validate(o.captions);
}

// The six splits in manifest order; their image pools are attached by attach_pools().
std::vector<SplitPlan> split_plans(const MosaicOptions& o) {
  auto id = [](MosaicSplit s) { return static_cast<uint64_t>(s); };
  return {{"train", id(MosaicSplit::kTrain), false, o.train_count, nullptr, true},
          {"test", id(MosaicSplit::kTest), false, o.test_count, nullptr, false},
          {"single_train", id(MosaicSplit::kSingleTrain), true, o.single_train_count, nullptr, true},
          {"single_test", id(MosaicSplit::kSingleTest), true, o.single_test_count, nullptr, false},
          {"val", id(MosaicSplit::kVal), false, o.val_count, nullptr, false},
          {"single_val", id(MosaicSplit::kSingleVal), true, o.single_val_count, nullptr, false}};
}

// The train splits draw from the train images less the held-out sixth, val from that sixth, test from t10k.
struct Pools {
  FashionMnist train, val, test;
};
void attach_pools(const MosaicOptions& o, Pools& pools, std::vector<SplitPlan>& splits) {
  if (o.train_count + o.single_train_count + o.val_count + o.single_val_count > 0)
    std::tie(pools.train, pools.val) = split_train_val(load_fashion_mnist(o.mnist_dir, "train"));
  if (o.test_count + o.single_test_count > 0) pools.test = load_fashion_mnist(o.mnist_dir, "t10k");
  for (auto& s : splits)
    s.pool = s.name.find("train") != std::string::npos ? &pools.train
             : s.name.find("val") != std::string::npos ? &pools.val
                                                       : &pools.test;
}

// Every split's manifest, then train_all.jsonl, classes.txt, the caption corpus and, last, meta.json.
int64_t write_splits(const MosaicOptions& o, const MosaicLayout& layout, const std::vector<SplitPlan>& splits,
                     int64_t threads) {
  const fs::path out(o.out_dir);
  int64_t images = 0;
  std::string corpus, train_all;  // the train splits' captions; their manifests together
  for (const auto& s : splits) {
    if (s.count == 0) continue;
    std::string manifest;
    for (const auto& c : make_split(o, layout, s, threads)) {
      manifest += c.line + "\n";
      if (s.corpus) corpus += c.captions.alt_text + "\n" + c.captions.caption_medium + "\n" + c.captions.caption_long + "\n";
    }
    write_text_atomic(out / (s.name + ".jsonl"), manifest);
    if (s.corpus) train_all += manifest;
    images += s.count;
  }
  write_text_atomic(out / "train_all.jsonl", train_all);
  std::string classes;
  for (const char* name : kFashionClasses) classes += std::string(name) + "\n";
  write_text_atomic(out / "classes.txt", classes);
  write_text_atomic(out / "corpus.txt", corpus);
  write_text_atomic(out / "meta.json", meta_of(o).dump(2) + "\n");
  return images;
}

}  // namespace

MosaicReport generate_fashion_mosaic(const MosaicOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const MosaicLayout layout = layout_for(o);
  validate_options(o);
  auto splits = split_plans(o);
  MosaicReport report;
  if (!o.force && up_to_date(o, splits)) {
    report.skipped = true;
    spdlog::info("fashion mosaic: {} is up to date (meta.json matches), not regenerating", o.out_dir);
    return report;
  }
  Pools pools;
  attach_pools(o, pools, splits);
  const fs::path out(o.out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw DataError("cannot create " + out.string() + ": " + ec.message(), "choose a writable --out folder");
  fs::remove(out / "meta.json");  // an interrupted run must not look complete
  const int64_t threads =
      o.threads > 0 ? o.threads : std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  report.images = write_splits(o, layout, splits, threads);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("fashion mosaic: wrote {} canvases to {} in {:.1f} s ({} threads)", report.images, o.out_dir,
               report.seconds, threads);
  return report;
}

std::pair<FashionMnist, FashionMnist> split_train_val(const FashionMnist& all) {
  if (all.size() < 6)
    throw DataError("fashion mosaic: the train idx files hold " + std::to_string(all.size()) +
                        " images, too few to hold a sixth out for validation",
                    "use the full 60k Fashion-MNIST train set (Debian: dataset-fashion-mnist)");
  const int64_t cut = all.size() - all.size() / 6, px = all.rows * all.cols;
  FashionMnist train, val;
  for (FashionMnist* f : {&train, &val}) f->rows = all.rows, f->cols = all.cols;
  train.pixels.assign(all.pixels.begin(), all.pixels.begin() + cut * px);
  train.labels.assign(all.labels.begin(), all.labels.begin() + cut);
  val.pixels.assign(all.pixels.begin() + cut * px, all.pixels.end());
  val.labels.assign(all.labels.begin() + cut, all.labels.end());
  return {train, val};
}

LabelMap load_label_map(const std::string& path) {
  const cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw DataError("cannot read label map " + path, "the file is missing or not an image");
  if (m.type() != CV_8UC1)
    throw DataError("label map " + path + " is not an 8-bit single-channel image (type " +
                        std::to_string(m.type()) + ")", "label maps are 8-bit gray PNGs, 0 = background");
  LabelMap out;
  out.height = m.rows;
  out.width = m.cols;
  out.labels.assign(m.datastart, m.dataend);
  return out;
}

}  // namespace tips::data
