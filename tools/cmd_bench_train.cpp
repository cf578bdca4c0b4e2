// `tips bench train`: time of one full TIPSv2 optimizer step (Trainer::step on synthetic batches) vs the same step in
// plain PyTorch (tools/bench/python_train_step.py) on the same LibTorch, plus the model FLOP rate.
//
// The C++ side builds the Trainer without data (TrainerOptions::with_data = false) and feeds it batches of the
// configured shapes: crops uniform in [0, 1], block masks from data.masking, caption ids with padding (stream 1
// lengths ~U[L/8, L/2], stream 2 ~U[L/4, L]). Batches are built and moved to the device before the timer starts;
// the timer covers step() only (zero_grad .. EMA update), synchronised on CUDA. FLOPs per step come from
// train::make_plan (analytic matmul FLOPs, backward = 2x forward), with the captions counted at the lengths of the
// text tower's length buckets on these batches (the reference buckets them the same way). With --repeats R the C++ and
// Python measurements alternate R times (the load on a shared machine hits both); the table shows the median over
// repeats of the per-repeat median step time, and the spread (min..max) of those medians. CPU-seconds per step
// (user + sys of every thread of the process, both sides) is the load-robust column on a shared machine.
// LibTorch's intra-op thread count (--threads, else train.threads, else LibTorch's default) is the same on both sides,
// and so is OpenBLAS's own pool (Debian's pthread OpenBLAS ignores LibTorch's setting): the count the Trainer gives
// it (train::StepPlan::blas_threads, 1 in bf16 on CPU) is passed to Python as OPENBLAS_NUM_THREADS. Unless
// --system-malloc, both sides also run with freed memory retained (core/allocator.h: mallopt here, the equivalent
// MALLOC_* environment for Python); otherwise page faults of re-allocated buffers dominate on small VMs.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "tips/config/config.h"
#include "tips/core/allocator.h"
#include "tips/core/error.h"
#include "tips/core/op_trace.h"
#include "tips/core/rng.h"
#include "tips/core/system.h"
#include "tips/data/synthetic_batch.h"
#include "tips/model/length_buckets.h"
#include "tips/train/plan.h"
#include "tips/train/trainer.h"

namespace cmd_bench_train {  // named, not anonymous: the CLI is compiled in unity batches

namespace fs = std::filesystem;
using tips::config::RunConfig;

const fs::path kSourceRoot = fs::path(__FILE__).parent_path().parent_path();

struct Opts {
  tips::cli::ConfigArgs config;
  int64_t steps = 5;
  int64_t warmup = 3;   // the first steps grow the heap (page faults): keep them out of the timing
  int64_t repeats = 1;
  int64_t threads = 0;  // 0 = LibTorch's default; Python gets the same resolved count
  std::string python = "/usr/bin/python3";
  std::string script = (kSourceRoot / "tools" / "bench" / "python_train_step.py").string();
  bool no_python = false;
  bool system_malloc = false;  // keep glibc's default allocator settings on both sides
  double peak_tflops = 0;  // 0 = from the GPU table (CUDA only)
  std::string json;
  std::string profile;  // chrome trace of the first repeat's timed C++ steps; "" = none
};

// The step's inputs: batches of the configured shapes (data/synthetic_batch.h), on the step's device.
tips::data::Batch synthetic_batch(const RunConfig& cfg, int64_t B, uint64_t seed, const torch::Device& device) {
  tips::data::SyntheticBatchSpec spec;
  spec.crops = cfg.data.crops;
  spec.masking = cfg.data.masking;
  spec.patch_size = cfg.model.patch_size;
  spec.max_len = cfg.text.max_len;
  spec.vocab_size = cfg.text.vocab_size;
  return tips::data::to_device(tips::data::synthetic_batch(spec, B, seed), device);
}

// ---- timing -----------------------------------------------------------------------------------------------

// The middle value; for an even count the mean of the two middle ones (the upper one alone would bias a pair of
// repeats, or 2 timed steps, towards the slower).
double median_of(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

struct Timing {
  std::vector<double> step_s, cpu_s;  // wall-clock and CPU (user + sys, all threads) seconds per step
  double median() const { return median_of(step_s); }
  double min() const { return step_s.empty() ? -1 : *std::min_element(step_s.begin(), step_s.end()); }
  double cpu_median() const { return median_of(cpu_s); }
};

double cpu_seconds_self() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

Timing time_cpp(tips::train::Trainer& trainer, const std::vector<std::vector<tips::data::Batch>>& inputs,
                const torch::Device& device, int64_t warmup, int64_t steps, int64_t& skipped) {
  Timing t;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    const auto& batches = inputs[static_cast<size_t>(i) % inputs.size()];
    sync(device);
    const double cpu0 = cpu_seconds_self();
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = trainer.step(batches);
    sync(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.skipped) ++skipped;
    if (i >= warmup) t.step_s.push_back(s), t.cpu_s.push_back(cpu_seconds_self() - cpu0);
  }
  return t;
}

// Runs `timed` (`steps` steps) under LibTorch's op profiler with input shapes, writes its spans as a chrome trace
// (one span per ATen op, forward and backward) and prints the costliest (op, shapes) pairs per step. The profiler's
// own cost inflates these steps' times, which the table then shows.
Timing profiled(const std::string& path, int64_t steps, const std::function<Timing()>& timed) {
  tips::OpTrace trace;
  const Timing t = timed();
  const auto spans = trace.stop();
  tips::write_chrome_trace(spans, path);
  std::fprintf(stderr, "profile: wrote %s (the profiled steps are slower than unprofiled ones)\n", path.c_str());
  double total_us = 0;
  for (const auto& s : spans) total_us += s.self_us;
  const double per_step = 1.0 / static_cast<double>(steps);
  std::fprintf(stderr, "profile: self time per step by op and input shapes (all ops: %.1f ms)\n",
               total_us * per_step / 1e3);
  std::fprintf(stderr, "%10s %8s  %-28s %s\n", "ms/step", "calls", "op", "input shapes");
  for (const auto& row : tips::top_ops(spans, 25))
    std::fprintf(stderr, "%10.2f %8.1f  %-28s %s\n", row.self_us * per_step / 1e3,
                 static_cast<double>(row.calls) * per_step, row.name.c_str(), row.shapes.substr(0, 90).c_str());
  return t;
}

// ---- the Python reference ---------------------------------------------------------------------------------

// What the reference models: the TIPSv2 objective with its defaults. Returns "" or why it cannot run this config.
std::string python_unsupported(const RunConfig& c) {
  std::vector<std::string> why;
  const auto& L = c.loss;
  if (!(L.contrastive.weight > 0 && L.dino.weight > 0 && L.ibot.weight > 0)) why.push_back("a loss weight is 0");
  if (L.contrastive.kind != tips::loss::ContrastiveKind::kSoftmax) why.push_back("loss.contrastive.kind=sigmoid");
  if (L.contrastive.image_view != tips::loss::ImageView::kUnmasked) why.push_back("loss.contrastive.image_view");
  if (!L.contrastive.two_streams) why.push_back("loss.contrastive.two_streams=false");
  if (L.dino.cls != tips::loss::ClsChoice::kCls1) why.push_back("loss.dino.cls");
  if (L.dino.global_student) why.push_back("loss.dino.global_student");
  const bool sinkhorn = L.dino.centering == tips::loss::Centering::kSinkhorn ||
                        L.ibot.centering == tips::loss::Centering::kSinkhorn;
  if (sinkhorn && L.dino.sinkhorn_iters != L.ibot.sinkhorn_iters) why.push_back("different sinkhorn_iters");
  if (!L.ibot.all_patches || L.ibot.separate_group_means) why.push_back("loss.ibot weighting other than iBOT++");
  if (c.teacher.ema != tips::train::EmaScope::kHeadOnly) why.push_back("teacher.ema other than head_only");
  if (c.optim.name != tips::train::OptimizerKind::kAdamW) why.push_back("optim.name=adafactor");
  if (c.optim.accum_steps != 1) why.push_back("optim.accum_steps > 1");
  if (c.data.crops.local_count == 0) why.push_back("no local crops");
  if (c.data.crops.local_size == c.data.crops.global_size) why.push_back("local_size == global_size");
  std::string out;
  for (const auto& w : why) out += (out.empty() ? "" : ", ") + w;
  return out;
}

const char* centering(tips::loss::Centering c) { return c == tips::loss::Centering::kSinkhorn ? "sinkhorn" : "ema"; }

std::string python_command(const Opts& o, const RunConfig& c, int64_t batch, int64_t threads, int64_t blas_threads,
                           bool cuda, bool bf16) {
  std::ostringstream cmd;
  if (!o.system_malloc)
    for (const auto& kv : tips::sys::retain_freed_memory_env()) cmd << kv << " ";
  cmd << "OPENBLAS_NUM_THREADS=" << (blas_threads > 0 ? blas_threads : threads) << " ";
  const auto& m = c.model;
  const auto& cr = c.data.crops;
  cmd << o.python << " " << o.script << " --dim " << m.dim << " --depth " << m.depth << " --heads " << m.num_heads
      << " --mlp " << m.mlp_hidden << " --ffn " << (m.ffn == tips::model::FfnKind::kSwiGlu ? "swiglu" : "gelu")
      << " --patch " << m.patch_size << " --pos-grid " << m.pos_grid << " --drop-path " << m.drop_path
      << " --global-size " << cr.global_size << " --global-count " << cr.global_count << " --local-size "
      << cr.local_size << " --local-count " << cr.local_count << " --text-depth " << c.text.depth << " --text-heads "
      << c.text.num_heads << " --text-mlp " << c.text.mlp_hidden << " --vocab " << c.text.vocab_size
      << " --max-len " << c.text.max_len << " --prototypes " << c.heads.prototypes << " --head-hidden "
      << c.heads.hidden << " --bottleneck " << c.heads.bottleneck << " --head-layers " << c.heads.num_layers
      << " --ibot-separate " << (c.heads.ibot_separate ? 1 : 0) << " --mask-ratio "
      << 0.5 * (c.data.masking.ratio_min + c.data.masking.ratio_max) << " --mask-probability "
      << c.data.masking.probability << " --w-contrastive " << c.loss.contrastive.weight << " --w-dino "
      << c.loss.dino.weight << " --w-ibot " << c.loss.ibot.weight << " --w-koleo " << c.loss.koleo.weight
      << " --dino-centering " << centering(c.loss.dino.centering) << " --ibot-centering "
      << centering(c.loss.ibot.centering) << " --sinkhorn-iters " << c.loss.dino.sinkhorn_iters
      << " --clip-grad " << c.optim.clip_grad
      << " --batch " << batch << " --steps " << o.steps << " --warmup " << o.warmup << " --threads " << threads
      << (cuda ? " --device cuda" : "") << (bf16 ? " --bf16" : "");
  return cmd.str();
}

struct PyResult {
  double median = -1, min = -1, cpu_median = -1;
  std::string error;  // "" on success
};

PyResult run_python(const std::string& cmd, const std::string& python) {
  PyResult r;
  if (!fs::exists(python)) {
    r.error = python + " not found (pass --python PATH, or --no-python)";
    return r;
  }
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) {
    r.error = "cannot start " + python;
    return r;
  }
  std::string out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = pclose(pipe);
  const auto brace = out.rfind('{');
  if (status != 0 || brace == std::string::npos) {
    if (out.find("No module named 'torch'") != std::string::npos) {
      r.error = python + " has no torch module (Debian: apt-get install python3-torch; or pass --python PATH)";
    } else {
      const std::string tail = out.size() > 600 ? out.substr(out.size() - 600) : out;
      r.error = "the reference failed (exit " + std::to_string(status) + "): " + tail;
    }
    return r;
  }
  try {
    const auto j = nlohmann::json::parse(out.substr(brace));
    r.median = j.at("step_s_median").get<double>();
    r.min = j.at("step_s_min").get<double>();
    r.cpu_median = j.at("cpu_s_median").get<double>();
  } catch (const std::exception& e) {
    r.error = std::string("cannot parse the reference output: ") + e.what() + ": " + out.substr(brace);
  }
  return r;
}

// ---- peak FLOPs -------------------------------------------------------------------------------------------

// Dense peak TFLOP/s per precision (vendor datasheets, no sparsity).
struct Peak {
  const char* name_part;
  double bf16, fp32;
};
const Peak kPeaks[] = {
    {"H200", 989.4, 66.9}, {"H100 NVL", 835.0, 60.0}, {"H100 PCIe", 756.0, 51.2},
    {"H100", 989.4, 66.9}, {"A100", 312.0, 19.5},
};

std::string gpu_name() {
  FILE* pipe = popen("nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null", "r");
  if (!pipe) return "";
  std::array<char, 256> buf{};
  std::string name = fgets(buf.data(), buf.size(), pipe) ? buf.data() : "";
  pclose(pipe);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return name;
}

// Peak TFLOP/s for MFU: --peak-tflops, else the table entry for the visible GPU; 0 when unknown (CPU).
double peak_tflops(const Opts& o, const torch::Device& device, bool bf16, std::string& source) {
  if (o.peak_tflops > 0) {
    source = "--peak-tflops";
    return o.peak_tflops;
  }
  if (!device.is_cuda()) return 0;
  const std::string name = gpu_name();
  for (const Peak& p : kPeaks)
    if (name.find(p.name_part) != std::string::npos) {
      source = name + (bf16 ? " bf16" : " fp32") + " dense peak";
      return bf16 ? p.bf16 : p.fp32;
    }
  source = "unknown GPU '" + name + "': pass --peak-tflops";
  return 0;
}

// ---- the command ------------------------------------------------------------------------------------------

// What one invocation measured; Python fields stay empty when the reference did not run.
struct Results {
  std::vector<double> cpp_median, cpp_min, cpp_cpu;  // one entry per repeat
  std::vector<double> py_median, py_min, py_cpu;
  std::string py_error;
  int64_t skipped = 0;
};

// Python's step time over C++'s, one per repeat: the two sides of a repeat run back to back, so each ratio sees
// one state of the host, while the medians of the two columns may come from different repeats.
std::vector<double> paired_speedups(const Results& r) {
  std::vector<double> ratios;
  for (size_t i = 0; i < r.py_median.size() && i < r.cpp_median.size(); ++i)
    ratios.push_back(r.py_median[i] / r.cpp_median[i]);
  return ratios;
}

double min_of(const std::vector<double>& v) { return v.empty() ? -1 : *std::min_element(v.begin(), v.end()); }
double max_of(const std::vector<double>& v) { return v.empty() ? -1 : *std::max_element(v.begin(), v.end()); }

void print_header(const std::string& file, const RunConfig& cfg, const tips::train::Plan& plan, const Opts& o,
                  const torch::Device& device, bool bf16, int64_t threads, int64_t blas_threads, int64_t batch,
                  int64_t world) {
  const auto& cr = cfg.data.crops;
  std::printf("config:  %s\n", file.c_str());
  std::printf("vision:  %s\n", plan.vision_desc.c_str());
  std::printf("text:    %s\n", plan.text_desc.c_str());
  std::printf("heads:   %s\n", plan.heads_desc.c_str());
  std::printf("batch:   %lld per rank (%lld rank(s) x %lld micro-batch(es)); crops %lldx%lld + %lldx%lld; "
              "masks %.2f..%.2f\n",
              static_cast<long long>(batch), static_cast<long long>(world),
              static_cast<long long>(cfg.optim.accum_steps), static_cast<long long>(cr.global_count),
              static_cast<long long>(cr.global_size), static_cast<long long>(cr.local_count),
              static_cast<long long>(cr.local_size), cfg.data.masking.ratio_min, cfg.data.masking.ratio_max);
  const std::string blas = blas_threads > 0 ? " (OpenBLAS " + std::to_string(blas_threads) + ")" : "";
  std::printf("device:  %s%s, %lld thread(s)%s; %lld warm-up + %lld timed steps x %lld repeat(s)\n",
              device.str().c_str(), bf16 ? " (bf16 autocast)" : " (fp32)", static_cast<long long>(threads),
              blas.c_str(), static_cast<long long>(o.warmup), static_cast<long long>(o.steps),
              static_cast<long long>(o.repeats));
  std::printf("malloc:  %s\n", o.system_malloc ? "glibc defaults (--system-malloc)"
                                                 : "freed memory retained on both sides (core/allocator.h)");
  for (const char* var : {"MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"})
    if (const char* v = std::getenv(var)) std::printf("env:     %s=%s (inherited by both sides)\n", var, v);
  std::fflush(stdout);
}

// Alternates C++ and Python measurements; the C++ warm-up runs once, before the first repeat.
Results measure(const Opts& o, tips::train::Trainer& trainer, const std::vector<std::vector<tips::data::Batch>>& inputs,
                const torch::Device& device, const std::string& py_cmd, std::string py_error) {
  Results r;
  r.py_error = std::move(py_error);
  for (int64_t rep = 0; rep < o.repeats; ++rep) {
    Timing t;
    if (rep == 0 && !o.profile.empty()) {
      time_cpp(trainer, inputs, device, o.warmup, 0, r.skipped);  // the warm-up stays out of the trace
      t = profiled(o.profile, o.steps, [&] { return time_cpp(trainer, inputs, device, 0, o.steps, r.skipped); });
    } else {
      t = time_cpp(trainer, inputs, device, rep == 0 ? o.warmup : 0, o.steps, r.skipped);
    }
    r.cpp_median.push_back(t.median());
    r.cpp_min.push_back(t.min());
    r.cpp_cpu.push_back(t.cpu_median());
    std::string line = "repeat " + std::to_string(rep + 1) + "/" + std::to_string(o.repeats) + ": C++ " +
                       std::to_string(t.median()) + " s";
    if (r.py_error.empty()) {
      const PyResult p = run_python(py_cmd, o.python);
      if (!p.error.empty()) {
        r.py_error = p.error;
      } else {
        r.py_median.push_back(p.median);
        r.py_min.push_back(p.min);
        r.py_cpu.push_back(p.cpu_median);
        line += ", Python " + std::to_string(p.median) + " s";
      }
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return r;
}

void print_paired(const std::vector<double>& ratios) {
  std::printf("%-26s %11.2fx\n", "  median of the repeats'", median_of(ratios));
  std::printf("  per repeat:");
  for (double x : ratios) std::printf(" %.2fx", x);
  std::printf("\n");
}

void print_table(const Results& r, double images, double flops, double peak, int64_t repeats) {
  const bool py = !r.py_median.empty();
  const double cpp_med = median_of(r.cpp_median), py_med = py ? median_of(r.py_median) : -1;
  std::printf("\n%-26s %12s %12s\n", "", "C++", "Python");
  auto row = [](const char* label, double cpp, double python, const char* fmt) {
    char a[32], b[32];
    std::snprintf(a, sizeof a, fmt, cpp);
    if (python >= 0) std::snprintf(b, sizeof b, fmt, python);
    else std::snprintf(b, sizeof b, "-");
    std::printf("%-26s %12s %12s\n", label, a, b);
  };
  row("step time, median (s)", cpp_med, py_med, "%.4f");
  row("step time, min (s)", min_of(r.cpp_min), min_of(r.py_min), "%.4f");
  if (repeats > 1) {
    row("  spread of medians, lo", min_of(r.cpp_median), min_of(r.py_median), "%.4f");
    row("  spread of medians, hi", max_of(r.cpp_median), max_of(r.py_median), "%.4f");
  }
  row("CPU s per step, median", median_of(r.cpp_cpu), py ? median_of(r.py_cpu) : -1, "%.4f");
  row("images/s", images / cpp_med, py ? images / py_med : -1, "%.2f");
  row("GFLOP per step", flops / 1e9, py ? flops / 1e9 : -1, "%.2f");
  row("achieved GFLOP/s", flops / cpp_med / 1e9, py ? flops / py_med / 1e9 : -1, "%.2f");
  if (peak > 0)
    row("MFU (%)", 100.0 * flops / cpp_med / (peak * 1e12), py ? 100.0 * flops / py_med / (peak * 1e12) : -1, "%.1f");
  if (py) {
    std::printf("%-26s %11.2fx\n", "speed-up C++ / Python", py_med / cpp_med);
    std::printf("%-26s %11.2fx\n", "  in CPU seconds", median_of(r.py_cpu) / median_of(r.cpp_cpu));
    if (repeats > 1) print_paired(paired_speedups(r));
  }
}

nlohmann::json to_json(const Results& r, double images, double flops, double peak) {
  nlohmann::json j;
  const double cpp_med = median_of(r.cpp_median);
  j["flops_per_step"] = flops;
  j["cpp"] = {{"step_s_median", cpp_med},          {"step_s_min", min_of(r.cpp_min)},
              {"step_s_medians", r.cpp_median},    {"cpu_s_median", median_of(r.cpp_cpu)},
              {"imgs_per_s", images / cpp_med},    {"gflops_per_s", flops / cpp_med / 1e9},
              {"skipped_steps", r.skipped}};
  if (peak > 0) {
    j["peak_tflops"] = peak;
    j["cpp"]["mfu"] = flops / cpp_med / (peak * 1e12);
  }
  if (!r.py_median.empty()) {
    const double py_med = median_of(r.py_median);
    j["python"] = {{"step_s_median", py_med},       {"step_s_min", min_of(r.py_min)},
                   {"step_s_medians", r.py_median}, {"cpu_s_median", median_of(r.py_cpu)},
                   {"imgs_per_s", images / py_med}, {"gflops_per_s", flops / py_med / 1e9}};
    j["speedup"] = py_med / cpp_med;
    j["speedup_cpu_s"] = median_of(r.py_cpu) / median_of(r.cpp_cpu);
    const std::vector<double> ratios = paired_speedups(r);  // per repeat, Python over C++
    j["speedups"] = ratios;
    j["speedup_paired_median"] = median_of(ratios);
  } else {
    j["python"] = {{"error", r.py_error}};
  }
  return j;
}

// Where and how the step ran, for the JSON record.
struct RunSetup {
  torch::Device device;
  bool bf16;
  int64_t threads, blas_threads, batch_per_rank;
};

void write_json(const Opts& o, const std::vector<std::string>& files, const Results& r, const RunSetup& setup,
                double images, double flops, double peak, const std::string& py_cmd) {
  nlohmann::json j = to_json(r, images, flops, peak);
  j["config"] = files;
  j["overrides"] = o.config.overrides;
  j["device"] = setup.device.str();
  j["precision"] = setup.bf16 ? "bf16" : "fp32";
  j["threads"] = setup.threads;
  j["blas_threads"] = setup.blas_threads;
  j["batch_per_rank"] = setup.batch_per_rank;
  j["steps"] = o.steps;
  j["warmup"] = o.warmup;
  j["repeats"] = o.repeats;
  j["python_command"] = py_cmd;
  j["malloc"] = o.system_malloc ? "system" : "retain_freed_memory";
  std::ofstream(o.json) << j.dump(2) << "\n";
}

// The plan counts every caption at text.max_len; the text tower runs them in trimmed length buckets
// (model/length_buckets.h). Returns what that changes in this rank's FLOPs per step on these inputs (<= 0).
double text_bucket_correction(const RunConfig& cfg, int64_t streams,
                              const std::vector<std::vector<tips::data::Batch>>& inputs) {
  if (streams == 0) return 0;
  double as_run = 0, padded = 0;
  for (const auto& micro_batches : inputs)
    for (const auto& b : micro_batches) {
      const auto ids = streams == 2 ? torch::cat({b.tokens1, b.tokens2}, 0) : b.tokens1;
      for (const auto& bucket : tips::model::length_buckets(tips::model::valid_lengths(ids)))
        as_run +=
            3 * static_cast<double>(bucket.rows.size()) * tips::train::text_forward_flops(cfg.text, bucket.length);
      padded += 3 * static_cast<double>(ids.size(0)) * tips::train::text_forward_flops(cfg.text, cfg.text.max_len);
    }
  return (as_run - padded) / static_cast<double>(inputs.size());
}

int run(const Opts& o) {
  if (!o.system_malloc) tips::sys::retain_freed_memory();  // before the model's first allocations
  auto files = o.config.files;
  if (files.empty()) files.push_back((kSourceRoot / "configs" / "demo" / "fashion_tiny.yaml").string());
  RunConfig cfg = tips::config::load(files, o.config.overrides);
  if (o.threads > 0) cfg.train.threads = o.threads;  // the Trainer applies it to LibTorch

  tips::train::TrainerOptions topts;
  topts.with_data = false;
  tips::train::Trainer trainer(cfg, topts);
  trainer.model()->train();
  const torch::Device device = trainer.model()->log_temperature.device();
  const bool bf16 = trainer.plan().bf16;
  const int64_t threads = torch::get_num_threads();
  const int64_t blas_threads = tips::sys::blas_threads();  // as the Trainer set it; 0 without OpenBLAS
  const int64_t world = trainer.dist().world_size, accum = cfg.optim.accum_steps;
  const int64_t B = cfg.train.batch_size / (world * accum);  // per rank, per micro-batch

  // Two different step inputs, alternated (a constant batch could hide data-dependent costs).
  std::vector<std::vector<tips::data::Batch>> inputs(2);
  for (size_t k = 0; k < inputs.size(); ++k)
    for (int64_t a = 0; a < accum; ++a)
      inputs[k].push_back(synthetic_batch(cfg, B, tips::rng::derive(cfg.train.seed, 0xBE, k, a), device));

  const auto plan = tips::train::make_plan(cfg);
  const double flops = plan.policy(cfg.teacher.ema).flops_per_step / static_cast<double>(world) +  // this rank
                       text_bucket_correction(cfg, trainer.plan().text_streams, inputs);
  std::string peak_source;
  const double peak = peak_tflops(o, device, bf16, peak_source);
  const std::string unsupported = python_unsupported(cfg);
  const std::string py_cmd = python_command(o, cfg, B * accum, threads, blas_threads, device.is_cuda(), bf16);
  const std::string py_error = o.no_python            ? "skipped (--no-python)"
                               : !unsupported.empty() ? "skipped (the reference does not model: " + unsupported + ")"
                                                      : "";

  print_header(files.back(), cfg, plan, o, device, bf16, threads, blas_threads, B * accum, world);
  const Results r = measure(o, trainer, inputs, device, py_cmd, py_error);
  const double images = static_cast<double>(B * accum);
  print_table(r, images, flops, peak, o.repeats);
  if (peak > 0) std::printf("peak: %.1f TFLOP/s (%s)\n", peak, peak_source.c_str());
  else if (device.is_cuda()) std::printf("MFU: %s\n", peak_source.c_str());
  if (!r.py_error.empty()) std::printf("python: %s\n", r.py_error.c_str());
  if (r.skipped > 0) std::printf("warning: %lld step(s) were skipped as non-finite\n", static_cast<long long>(r.skipped));
  std::printf(
      "FLOPs: analytic matmul count of `tips plan` (backward = 2x forward) for this rank's batch, the captions\n"
      "at the lengths the text tower runs them (length buckets, both sides).\n");

  if (!o.json.empty())
    write_json(o, files, r, {device, bf16, threads, blas_threads, B * accum}, images, flops, peak, py_cmd);
  return 0;
}

tips::cli::Registrar reg("bench train", "one training step: C++ vs the PyTorch reference, images/s, FLOP rate, MFU",
                         [](CLI::App& app) {
                           auto o = std::make_shared<Opts>();
                           tips::cli::add_config_args(app, o->config);
                           app.add_option("--steps", o->steps, "timed steps per repeat")->check(CLI::Range(1, 10000));
                           app.add_option("--warmup", o->warmup, "untimed steps before the first repeat")
                               ->check(CLI::Range(0, 1000));
                           app.add_option("--repeats", o->repeats, "alternating C++ / Python measurements")
                               ->check(CLI::Range(1, 100));
                           app.add_option("--threads", o->threads, "torch intra-op threads (both sides); 0 = default")
                               ->check(CLI::Range(0, 1024));
                           app.add_option("--python", o->python, "python with torch (Debian: /usr/bin/python3)");
                           app.add_option("--script", o->script, "the reference step script");
                           app.add_flag("--no-python", o->no_python, "skip the Python reference");
                           app.add_flag("--system-malloc", o->system_malloc,
                                        "keep glibc's default allocator settings (both sides)");
                           app.add_option("--peak-tflops", o->peak_tflops,
                                          "peak TFLOP/s for MFU (default: table for H100/H200/A100)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--json", o->json, "also write the results as JSON to this file");
                           app.add_option("--profile", o->profile,
                                          "write a chrome trace of the first repeat's C++ steps (ATen ops with input "
                                          "shapes) here, and print the costliest ops per step");
                           return [o] { return run(*o); };
                         });

}  // namespace cmd_bench_train
