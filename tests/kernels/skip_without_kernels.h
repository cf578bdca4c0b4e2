// Shared by tests/kernels/: the fused kernels' tests run where the kernels do (built with libsleef-dev, an
// AVX-512 CPU) and are reported as skipped, with the reason, elsewhere.
#pragma once
#include <gtest/gtest.h>

#include "tips/kernels/cpu_kernels.h"

#define SKIP_WITHOUT_FUSED_KERNELS()       \
  if (!tips::kernels::fused_cpu_kernels()) \
  GTEST_SKIP() << "fused CPU kernels " << tips::kernels::fused_cpu_kernels_status()
