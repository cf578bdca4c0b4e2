// `tips bench matmul`: the machine's matmul peak per precision and thread count, the denominator that makes
// `tips bench train`'s GFLOP/s meaningful on a CPU (no datasheet lists a shared VM's rate). Times C = A @ B for
// each shape (MxK @ KxN) in fp32 and bf16 (ATen's CPU kernels: OpenBLAS for fp32, oneDNN for bf16), median and
// spread over --repeats, and prints one table (and JSON with --json).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "tips/core/error.h"

namespace cmd_bench_matmul {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  std::vector<std::string> shapes{"4096x1024x1024", "1024x256x256"};  // MxKxN
  std::vector<int64_t> threads{1, static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()))};
  std::vector<std::string> dtypes{"fp32", "bf16"};
  int64_t repeats = 5;
  double min_seconds = 0.2;  // each repeat runs the matmul until this much time has passed
  std::string json;
};

std::array<int64_t, 3> parse_shape(const std::string& s) {
  std::array<int64_t, 3> mkn{};
  if (std::sscanf(s.c_str(), "%ldx%ldx%ld", &mkn[0], &mkn[1], &mkn[2]) != 3 || mkn[0] <= 0 || mkn[1] <= 0 || mkn[2] <= 0)
    throw tips::ConfigError("--shapes: expected MxKxN, got '" + s + "'", "e.g. --shapes 4096x1024x1024");
  return mkn;
}

// GFLOP/s of one repeat: as many matmuls as fit in min_seconds (after one untimed call).
double one_repeat(const torch::Tensor& a, const torch::Tensor& b, double min_seconds) {
  auto c = torch::mm(a, b);
  const double flop = 2.0 * a.size(0) * a.size(1) * b.size(1);
  int64_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < min_seconds) {
    torch::mm_out(c, a, b);
    ++n;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return flop * static_cast<double>(n) / elapsed / 1e9;
}

int run(const Opts& o) {
  torch::NoGradGuard no_grad;
  nlohmann::json rows = nlohmann::json::array();
  std::printf("%-16s %-5s %7s %12s %22s\n", "shape MxKxN", "dtype", "threads", "GFLOP/s", "min .. max");
  for (const auto& shape : o.shapes) {
    const auto mkn = parse_shape(shape);
    for (const auto& dtype : o.dtypes) {
      if (dtype != "fp32" && dtype != "bf16") throw tips::ConfigError("--dtypes: fp32 or bf16, got " + dtype, "");
      const auto opts = torch::TensorOptions().dtype(dtype == "bf16" ? torch::kBFloat16 : torch::kFloat);
      const auto a = torch::randn({mkn[0], mkn[1]}, opts), b = torch::randn({mkn[1], mkn[2]}, opts);
      for (const int64_t threads : o.threads) {
        torch::set_num_threads(static_cast<int>(threads));
        std::vector<double> rates;
        for (int64_t r = 0; r < o.repeats; ++r) rates.push_back(one_repeat(a, b, o.min_seconds));
        std::sort(rates.begin(), rates.end());
        const double median = rates[rates.size() / 2];
        std::printf("%-16s %-5s %7lld %12.1f %10.1f .. %9.1f\n", shape.c_str(), dtype.c_str(),
                    static_cast<long long>(threads), median, rates.front(), rates.back());
        rows.push_back({{"shape", shape}, {"dtype", dtype}, {"threads", threads}, {"gflops_median", median},
                        {"gflops_min", rates.front()}, {"gflops_max", rates.back()}, {"repeats", o.repeats}});
      }
    }
  }
  if (!o.json.empty()) std::ofstream(o.json) << rows.dump(2) << "\n";
  return 0;
}

}  // namespace cmd_bench_matmul

static tips::cli::Registrar reg_bench_matmul(
    "bench matmul", "matmul GFLOP/s per precision and thread count (the peak tips bench train compares to)",
    [](CLI::App& app) {
      auto o = std::make_shared<cmd_bench_matmul::Opts>();
      app.add_option("--shapes", o->shapes, "MxKxN matmul shapes");
      app.add_option("--threads", o->threads, "intra-op thread counts")->check(CLI::PositiveNumber);
      app.add_option("--dtypes", o->dtypes, "fp32 and/or bf16");
      app.add_option("--repeats", o->repeats, "timed repeats per setting (median and range reported)")
          ->check(CLI::Range(1, 1000));
      app.add_option("--min-seconds", o->min_seconds, "time per repeat")->check(CLI::PositiveNumber);
      app.add_option("--json", o->json, "also write the rows as JSON");
      return [o] { return cmd_bench_matmul::run(*o); };
    });
