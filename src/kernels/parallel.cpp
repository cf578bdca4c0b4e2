// The kernels' parallel loop. This file alone is compiled with the compiler's OpenMP flags (src/CMakeLists.txt), so
// that ATen's inline OpenMP loop below really forks onto the intra-op threads that at::set_num_threads sizes.
#include <ATen/Parallel.h>

#include <atomic>

#include "parallel_impl.h"
#include "tips/kernels/cpu_kernels.h"

// A build that lost the flags by mistake stops here; src/CMakeLists.txt says TIPS_KERNELS_WITHOUT_OPENMP (and warns)
// only where the compiler has no OpenMP at all.
#if AT_PARALLEL_OPENMP && !defined(_OPENMP) && !TIPS_KERNELS_WITHOUT_OPENMP
#error "src/kernels/parallel.cpp needs OpenMP: LibTorch's at::parallel_for would run the kernels on one thread"
#endif

namespace tips::kernels {

namespace detail {
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  at::parallel_for(begin, end, grain, fn);
}
}  // namespace detail

int fused_kernel_threads() {
  std::atomic<int> reached{1};
  detail::parallel_for(0, 1024, 1, [&](int64_t, int64_t) {
    const int mine = at::get_thread_num() + 1;
    int seen = reached.load();
    while (mine > seen && !reached.compare_exchange_weak(seen, mine)) {
    }
  });
  return reached.load();
}

}  // namespace tips::kernels
