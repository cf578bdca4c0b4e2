// Seeded Fisher-Yates permutation shared by the sources and the mosaic generator (private to src/data).
#pragma once
#include <cstdint>
#include <numeric>
#include <vector>

#include "tips/core/rng.h"

namespace tips::data::detail {

// A permutation of 0..n-1 that depends only on `seed` (platform independent, unlike std::shuffle).
inline std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  rng::SplitMix gen(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen.randint(0, i + 1)]);
  return p;
}

}  // namespace tips::data::detail
