// tips/kernels/cpu_kernels.h - whether this process runs tips' own fused CPU kernels.
// The fused kernels (kernels/*.h) are AVX-512 code built into the library when Debian's libsleef-dev is present
// (TIPS_HAVE_CPU_KERNELS). They run on CPU tensors when the CPU has AVX-512 F/BW/VL/DQ, unless the environment
// says TIPS_FUSED_KERNELS=0; everywhere else each caller keeps its composite of ATen ops (same results up to
// rounding). Decided once per process, logged at start-up.
//
// Example:
//   if (tips::kernels::fused_cpu_kernels()) { ... }   // else the ATen composite
//   spdlog::info("fused CPU kernels: {}", tips::kernels::fused_cpu_kernels_status());
#pragma once
#include <string>

namespace tips::kernels {

// True when the kernels are compiled in, the CPU can run them and TIPS_FUSED_KERNELS is not "0".
bool fused_cpu_kernels();

// One line for the start-up log: "on (AVX-512, 2 threads)", or "off (why)".
std::string fused_cpu_kernels_status();

// How many threads the kernels' parallel loops spread over now: at::get_num_threads() where the library was built
// with the intra-op backend's compiler flags, else 1.
int fused_kernel_threads();

}  // namespace tips::kernels
