#include "tips/core/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tips::sys {

bool retain_freed_memory() {
#if defined(__GLIBC__)
  // -1 disables trimming of the heap top (glibc documents -1 as "never").
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

std::vector<std::string> retain_freed_memory_env() {
  // The environment parser takes a size_t, not -1: 2^40 bytes never triggers a trim in practice.
  return {"MALLOC_MMAP_MAX_=0", "MALLOC_TRIM_THRESHOLD_=1099511627776"};
}

}  // namespace tips::sys
