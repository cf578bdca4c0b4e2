// tips/core/rng.h - explicit random streams. Every random draw in tips takes a generator made here;
// nothing reads global RNG state, so a run is a function of (seed, rank, worker, step, sample).
//
// Example:
//   auto gen = tips::rng::generator(tips::rng::derive(cfg.seed, rank, /*worker=*/w, /*stream=*/step));
//   auto noise = torch::randn({4}, gen);
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <initializer_list>

namespace tips::rng {

// SplitMix64 finaliser: a well-mixed 64-bit hash of x.
uint64_t mix(uint64_t x);

// Seed for a sub-stream: hashes the base seed with each part in order (rank, worker, step, ...).
// Distinct part lists give statistically independent seeds; the same list always gives the same seed.
uint64_t derive(uint64_t base_seed, std::initializer_list<uint64_t> parts);
inline uint64_t derive(uint64_t base, uint64_t a) { return derive(base, {a}); }
inline uint64_t derive(uint64_t base, uint64_t a, uint64_t b) { return derive(base, {a, b}); }
inline uint64_t derive(uint64_t base, uint64_t a, uint64_t b, uint64_t c) { return derive(base, {a, b, c}); }

// A CPU torch generator seeded with `seed` (Philox-free mt19937; state is serialisable via get_state()).
at::Generator generator(uint64_t seed);

// Small, fast, copyable PRNG for host-side decisions (crop boxes, caption choice, mask blocks).
// State is one uint64_t, so it is trivially checkpointed.
struct SplitMix {
  uint64_t state;
  explicit SplitMix(uint64_t seed) : state(seed) {}
  uint64_t next_u64();
  double uniform();                           // [0, 1)
  double uniform(double lo, double hi);       // [lo, hi)
  int64_t randint(int64_t lo, int64_t hi);    // [lo, hi), requires hi > lo
  bool bernoulli(double p);
};

}  // namespace tips::rng
