// tips/core/system.h - facts about the machine that change results or speed: the BLAS in use,
// thread counts, CUDA. Checked once at start-up and logged; a reference BLAS gets a loud warning.
#pragma once
#include <string>

namespace tips::sys {

struct BlasInfo {
  std::string library;   // path of the BLAS shared object mapped into this process, or "unknown"
  bool is_reference;     // true for netlib's reference BLAS (~20x slower matmul than OpenBLAS)
};

// Inspects /proc/self/maps after touching a matmul, so the BLAS LibTorch dispatches to is loaded.
BlasInfo detect_blas();

// OpenBLAS keeps its own thread pool: Debian's pthread build does not follow LibTorch's thread count. These reach
// it at run time (nothing links against OpenBLAS directly). set_blas_threads returns false and blas_threads 0 when
// the BLAS in this process is not OpenBLAS.
bool set_blas_threads(int threads);
int blas_threads();

// Peak resident set size of this process in MiB (VmHWM from /proc/self/status; 0 when unavailable).
double peak_rss_mib();

// The CPU feature that gives native bf16 matmuls (oneDNN's bf16 kernels): "AMX" or "AVX512-BF16", or "" when
// neither is present (bf16 then runs emulated, slower than fp32). Read once from /proc/cpuinfo's flags.
std::string cpu_bf16_feature();
inline bool cpu_has_native_bf16() { return !cpu_bf16_feature().empty(); }

// Logs LibTorch version, threads, CUDA devices and BLAS; warns loudly for the reference BLAS.
void log_startup_environment();

}  // namespace tips::sys
