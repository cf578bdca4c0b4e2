// Facts about the machine that tips reads or sets at start-up (core/system.h).
#include "tips/core/system.h"

#include <gtest/gtest.h>

// OpenBLAS's own pool is reached at run time (nothing links against it); elsewhere both calls say so.
TEST(BlasThreads, SetAndReadBack) {
  (void)tips::sys::detect_blas();  // loads the BLAS, which LibTorch resolves lazily
  const int before = tips::sys::blas_threads();
  if (before == 0) {
    EXPECT_FALSE(tips::sys::set_blas_threads(1));
    GTEST_SKIP() << "the BLAS in this process is not OpenBLAS: " << tips::sys::detect_blas().library;
  }
  ASSERT_TRUE(tips::sys::set_blas_threads(1));
  const int one = tips::sys::blas_threads();
  ASSERT_TRUE(tips::sys::set_blas_threads(2));
  const int two = tips::sys::blas_threads();
  tips::sys::set_blas_threads(before);
  EXPECT_EQ(one, 1);
  EXPECT_EQ(two, 2);
}
