#include "tips/core/allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Page faults of allocating, touching and freeing `bytes`, measured on the second of two rounds.
long faults_of_second_round(size_t bytes) {
  auto round = [bytes] {
    auto* p = static_cast<volatile char*>(std::malloc(bytes));  // volatile: the writes must happen
    for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    std::free(const_cast<char*>(p));
  };
  round();
  const long before = minor_faults();
  round();
  return minor_faults() - before;
}

// One test (one process): the default behaviour first, then the policy, as a process cannot go back.
TEST(Allocator, RetainedMemoryIsReusedWithoutPageFaults) {
  constexpr size_t kBytes = size_t{64} << 20;  // above glibc's largest dynamic mmap threshold (32 MiB)
  const long by_default = faults_of_second_round(kBytes);  // mmapped anew: 16384 faults (32 with THP always)
  ASSERT_TRUE(tips::sys::retain_freed_memory());
  const long retained = faults_of_second_round(kBytes);    // the touched heap pages are reused
  EXPECT_LT(retained, 64);
  EXPECT_GT(by_default, retained + 16);
}

TEST(Allocator, ChildEnvironmentNamesTheSameSettings) {
  const auto env = tips::sys::retain_freed_memory_env();
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(env[0], "MALLOC_MMAP_MAX_=0");
  EXPECT_EQ(env[1].rfind("MALLOC_TRIM_THRESHOLD_=", 0), 0u);
}

}  // namespace
