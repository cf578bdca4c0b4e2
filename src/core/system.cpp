#include "tips/core/system.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "tips/core/compat.h"

namespace tips::sys {

BlasInfo detect_blas() {
  // Force the BLAS to be loaded and used (it is resolved lazily through libblas.so.3).
  auto a = torch::ones({64, 64});
  (void)torch::mm(a, a);
  BlasInfo info{"unknown", false};
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("openblas") != std::string::npos || path.find("libmkl") != std::string::npos ||
        path.find("blis") != std::string::npos) {
      return BlasInfo{path, false};
    }
    if (path.find("/libblas.so") != std::string::npos) info = BlasInfo{path, true};
  }
  return info;
}

bool set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set != nullptr) set(threads);
  return set != nullptr;
}

int blas_threads() {
  using GetThreads = int (*)();
  auto* get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : 0;
}

void log_startup_environment() {
  spdlog::info("LibTorch {} | intra-op threads {} | CUDA {}", compat::torch_version(), torch::get_num_threads(),
               torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " device(s)"
                                           : std::string("not available"));
  const BlasInfo blas = detect_blas();
  if (blas.is_reference) {
    spdlog::warn("!!! LibTorch is using the REFERENCE BLAS ({}): matrix products run ~20x slower. !!!", blas.library);
    spdlog::warn("hint: apt-get install libopenblas0-pthread (scripts/install_deps.sh does this), then re-run");
  } else {
    spdlog::info("BLAS: {}", blas.library);
  }
}

std::string cpu_bf16_feature() {
  static const std::string feature = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
      if (line.rfind("flags", 0) != 0) continue;
      line += ' ';  // every flag is then followed by a space
      if (line.find(" amx_bf16 ") != std::string::npos) return std::string("AMX");
      if (line.find(" avx512_bf16 ") != std::string::npos) return std::string("AVX512-BF16");
      return std::string();
    }
    return std::string();
  }();
  return feature;
}

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;  // "VmHWM:  1234 kB"
  return 0.0;
}

}  // namespace tips::sys
