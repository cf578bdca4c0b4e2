// The kernels' parallel loop reaches LibTorch's intra-op threads. With LibTorch's OpenMP backend at::parallel_for is
// an inline `#pragma omp parallel`: in a file built without the OpenMP flags it silently ran every kernel on one
// thread (as src/kernels did until the loop moved to kernels/parallel.cpp), which no output comparison can see.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "tips/kernels/cpu_kernels.h"

TEST(KernelThreads, ReachEveryIntraOpThread) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const int two = tips::kernels::fused_kernel_threads();
  at::set_num_threads(1);
  const int one = tips::kernels::fused_kernel_threads();
  at::set_num_threads(before);
  EXPECT_EQ(two, 2);
  EXPECT_EQ(one, 1);
}
