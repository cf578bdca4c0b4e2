// `tips bench data`: multi-crop loader throughput vs the equivalent torchvision pipeline, per core.
// Generates JPEGs (smooth random content, 256..500 px) unless --images is given, runs tips' Loader at each
// thread count and tools/bench/python_data_pipeline.py with as many processes, and prints one table.
// Columns: wall-clock images/s (best of --repeats, alternating ours / python) and images per CPU-second
// (user + sys of all our threads, resp. of the Python workers). On a shared machine the CPU-second column
// is the robust per-core comparison; wall clock shows what a loaded host actually delivers.
// Files are read into memory first and tokenisation is constant, so both sides time decode + crops only
// (ours additionally draws masks and assembles batches).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <sys/resource.h>

#include "command.h"
#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/data/loader.h"
#include "tips/data/memory_source.h"

namespace cmd_bench_data {  // named, not anonymous: the CLI is compiled in unity batches

namespace fs = std::filesystem;

struct Opts {
  std::string images;                    // existing directory of images; "" = generate
  int64_t count = 256;                   // generated images
  std::vector<int64_t> threads{1, 2};
  int64_t batch = 32;
  int64_t passes = 2;                    // times the timed run goes over the images
  int64_t repeats = 2;                   // measurements per setting (alternating ours / python); best kept
  std::string crops_global = "1x224";
  std::string crops_local = "6x98";
  std::string python = "/usr/bin/python3";
  std::string script = (fs::path(__FILE__).parent_path() / "bench" / "python_data_pipeline.py").string();
  bool no_python = false;
};

std::pair<int64_t, int64_t> parse_crops(const std::string& s, const char* flag) {
  const auto x = s.find('x');
  try {
    if (x != std::string::npos) return {std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))};
  } catch (const std::exception&) {
  }
  throw tips::ConfigError(std::string(flag) + ": expected COUNTxSIZE, got '" + s + "'", "e.g. --local 6x98");
}

// Smooth random colour fields (bicubic upsampling of a 6x6 grid) plus mild noise, as JPEG quality 90.
void generate_images(const fs::path& dir, int64_t count) {
  fs::create_directories(dir);
  tips::rng::SplitMix r(20240917);
  cv::RNG noise_rng(7);
  for (int64_t i = 0; i < count; ++i) {
    const int h = static_cast<int>(r.randint(256, 501)), w = static_cast<int>(r.randint(256, 501));
    cv::Mat grid(6, 6, CV_8UC3);
    for (int k = 0; k < 6 * 6 * 3; ++k) grid.data[k] = static_cast<uint8_t>(r.randint(0, 256));
    cv::Mat img, noise(h, w, CV_8UC3);
    cv::resize(grid, img, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
    noise_rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(6));
    img += noise;
    char name[32];
    std::snprintf(name, sizeof(name), "img_%04lld.jpg", static_cast<long long>(i));
    if (!cv::imwrite((dir / name).string(), img, {cv::IMWRITE_JPEG_QUALITY, 90}))
      throw tips::DataError("bench data: cannot write " + (dir / name).string(), "check free space in /tmp");
  }
}

std::vector<tips::data::SourceItem> read_images(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw tips::DataError("bench data: no .jpg/.png images in " + dir.string(), "pass --images DIR");
  std::vector<tips::data::SourceItem> items;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    tips::data::SourceItem it;
    it.sample.key = f.filename().string();
    it.sample.image_path = f.string();
    it.sample.image_bytes.assign(std::istreambuf_iterator<char>(in), {});
    it.sample.captions = {{"alt_text", "a"}, {"caption_medium", "b"}, {"caption_long", "c"}};
    items.push_back(std::move(it));
  }
  return items;
}

struct Throughput {
  double images_per_s = -1;      // wall clock
  double images_per_cpu_s = -1;  // images per CPU-second (user + sys) of all threads/processes: robust to load
};

Throughput best(const Throughput& a, const Throughput& b) {
  return {std::max(a.images_per_s, b.images_per_s), std::max(a.images_per_cpu_s, b.images_per_cpu_s)};
}

double cpu_seconds_self() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Our loader with `threads` workers, after one warm-up batch.
Throughput run_ours(const Opts& o, const std::vector<tips::data::SourceItem>& items, int64_t threads) {
  tips::data::DataConfig cfg;
  std::tie(cfg.crops.global_count, cfg.crops.global_size) = parse_crops(o.crops_global, "--global");
  std::tie(cfg.crops.local_count, cfg.crops.local_size) = parse_crops(o.crops_local, "--local");
  cfg.loader.threads = threads;
  // Work prefetched past the last timed batch costs CPU that no counted image pays for: keep it to one batch.
  cfg.loader.prefetch_batches = 1;
  const int64_t patch = cfg.crops.global_size % 14 == 0 ? 14 : 16;
  tips::data::LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.patch_size = patch;
  lo.pin_memory = false;
  // Tokenisation is not part of the comparison (the Python pipeline has none): constant ids.
  const auto encode = [](const std::vector<std::string>& t) {
    return torch::ones({static_cast<int64_t>(t.size()), 64}, torch::kLong);
  };
  tips::data::Loader loader(cfg, std::make_unique<tips::data::MemorySource>(items), encode, lo);
  loader.next();
  const int64_t batches = std::max<int64_t>(1, o.passes * static_cast<int64_t>(items.size()) / o.batch);
  const double cpu0 = cpu_seconds_self();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < batches; ++b) loader.next();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double n = static_cast<double>(batches * o.batch);
  return {n / s, n / (cpu_seconds_self() - cpu0)};
}

// The torchvision pipeline with `procs` processes; negative values on failure.
Throughput run_python(const Opts& o, const fs::path& dir, int64_t procs) {
  const auto g = parse_crops(o.crops_global, "--global"), l = parse_crops(o.crops_local, "--local");
  std::ostringstream cmd;
  cmd << o.python << " " << o.script << " --images " << dir.string() << " --procs " << procs << " --passes "
      << o.passes << " --global-count " << g.first << " --global-size " << g.second << " --local-count " << l.first
      << " --local-size " << l.second;
  FILE* pipe = popen(cmd.str().c_str(), "r");
  if (!pipe) return {};
  std::string out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  if (pclose(pipe) != 0) {
    std::cerr << "bench data: python pipeline failed: " << cmd.str() << "\n" << out;
    return {};
  }
  const auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
  const double n = j.at("images").get<double>();
  return {j.at("images_per_s").get<double>(), n / j.at("cpu_seconds").get<double>()};
}

int run(const Opts& o) {
  fs::path dir = o.images;
  if (dir.empty()) {
    dir = fs::temp_directory_path() / ("tips_bench_data_" + std::to_string(::getpid()));
    std::cout << "generating " << o.count << " JPEGs (256..500 px) in " << dir << "\n";
    generate_images(dir, o.count);
  }
  const auto items = read_images(dir);
  const auto g = parse_crops(o.crops_global, "--global"), l = parse_crops(o.crops_local, "--local");
  const int64_t crops = g.first + l.first;
  std::cout << items.size() << " images, crops " << o.crops_global << " + " << o.crops_local << ", batch " << o.batch
            << ", " << o.passes << " passes\n\n";
  std::printf("%7s | %9s %9s %12s %12s | %12s %12s | %8s %8s\n", "threads", "images/s", "crops/s", "img/s/thread",
              "img/cpu-s", "py img/s/pr", "py img/cpu-s", "ratio", "cpu ratio");
  for (int64_t t : o.threads) {
    Throughput ours, py;
    for (int64_t k = 0; k < o.repeats; ++k) {
      ours = best(ours, run_ours(o, items, t));
      if (!o.no_python) py = best(py, run_python(o, dir, t));
    }
    const double per_thread = ours.images_per_s / static_cast<double>(t);
    std::printf("%7lld | %9.1f %9.1f %12.1f %12.1f |", static_cast<long long>(t), ours.images_per_s,
                ours.images_per_s * static_cast<double>(crops), per_thread, ours.images_per_cpu_s);
    if (py.images_per_s > 0) {
      const double py_per_proc = py.images_per_s / static_cast<double>(t);
      std::printf(" %12.1f %12.1f | %7.2fx %7.2fx\n", py_per_proc, py.images_per_cpu_s, per_thread / py_per_proc,
                  ours.images_per_cpu_s / py.images_per_cpu_s);
    } else {
      std::printf(" %12s %12s | %8s %8s\n", "-", "-", "-", "-");
    }
    std::fflush(stdout);
  }
  if (o.images.empty()) fs::remove_all(dir);
  return 0;
}

tips::cli::Registrar reg("bench data", "multi-crop loader throughput vs torchvision, per core", [](CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_option("--images", o->images, "directory of .jpg/.png images (default: generate --count JPEGs)");
  app.add_option("--count", o->count, "images to generate")->check(CLI::Range(1, 100000));
  app.add_option("--threads", o->threads, "loader thread counts to measure (python: same process counts)")
      ->delimiter(',');
  app.add_option("--batch", o->batch, "batch size")->check(CLI::Range(1, 4096));
  app.add_option("--passes", o->passes, "passes over the images per measurement")->check(CLI::Range(1, 1000));
  app.add_option("--repeats", o->repeats, "measurements per setting, best kept")->check(CLI::Range(1, 100));
  app.add_option("--global", o->crops_global, "global crops COUNTxSIZE");
  app.add_option("--local", o->crops_local, "local crops COUNTxSIZE");
  app.add_option("--python", o->python, "python with torch + torchvision");
  app.add_option("--script", o->script, "the reference pipeline script");
  app.add_flag("--no-python", o->no_python, "skip the Python reference");
  return [o] { return run(*o); };
});

}  // namespace cmd_bench_data
