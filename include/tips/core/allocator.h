// tips/core/allocator.h - glibc malloc settings for a training process: keep freed memory for reuse.
// A training step frees and re-allocates the same large activation buffers every step. By default glibc hands
// blocks above its mmap threshold (and a large free top of the heap) back to the kernel, so the next step
// page-faults them in again: on a 2-core VM at ~10 us per 4 KiB page this made `tips bench train` of the demo
// config 1.5x slower (a Python process happens to dodge most of it: its own small objects pin the heap top).
// Not a caching allocator, and no effect on CUDA memory (LibTorch caches that itself).
//
// Example (first thing in a command that trains):
//   tips::sys::retain_freed_memory();
#pragma once
#include <string>
#include <vector>

namespace tips::sys {

// mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1): every block comes from the heap and freed memory is
// kept for the next allocation; resident memory then stays at its peak. Returns false where it does not apply
// (not glibc). Call early, before large allocations; calling it again is harmless.
bool retain_freed_memory();

// The same policy for a child process, as glibc environment settings ("MALLOC_MMAP_MAX_=0", ...).
std::vector<std::string> retain_freed_memory_env();

}  // namespace tips::sys
