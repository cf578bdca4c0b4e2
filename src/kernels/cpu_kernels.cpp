#include "tips/kernels/cpu_kernels.h"

#include <cstdlib>
#include <string>

namespace tips::kernels {
namespace {

// "" when the kernels can run here, else why not.
std::string why_off() {
#if !TIPS_HAVE_CPU_KERNELS
  return "not built: libsleef-dev was missing at configure time";
#else
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (!avx512) return "this CPU lacks AVX-512 F/BW/VL/DQ; ATen's ops run instead";
#else
  return "not an x86-64 build";
#endif
  const char* env = std::getenv("TIPS_FUSED_KERNELS");
  if (env != nullptr && std::string(env) == "0") return "TIPS_FUSED_KERNELS=0";
  return "";
#endif
}

const std::string& status_reason() {
  static const std::string reason = why_off();
  return reason;
}

}  // namespace

bool fused_cpu_kernels() { return status_reason().empty(); }

std::string fused_cpu_kernels_status() {
  if (!fused_cpu_kernels()) return "off (" + status_reason() + ")";
  const int threads = fused_kernel_threads();
  return "on (AVX-512, " + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
}

}  // namespace tips::kernels
