#include "tips/core/rng.h"

#include <ATen/CPUGeneratorImpl.h>

namespace tips::rng {

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t derive(uint64_t base_seed, std::initializer_list<uint64_t> parts) {
  uint64_t h = mix(base_seed);
  for (uint64_t p : parts) h = mix(h ^ mix(p + 0x632BE59BD9B4E019ull));
  return h;
}

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

uint64_t SplitMix::next_u64() {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double SplitMix::uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
double SplitMix::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
int64_t SplitMix::randint(int64_t lo, int64_t hi) {
  TORCH_CHECK(hi > lo, "SplitMix::randint: empty range [", lo, ", ", hi, ")");
  return lo + static_cast<int64_t>(next_u64() % static_cast<uint64_t>(hi - lo));
}
bool SplitMix::bernoulli(double p) { return uniform() < p; }

}  // namespace tips::rng
