#include "tips/data/synthetic_batch.h"

#include <algorithm>

#include "tips/core/rng.h"
#include "tips/data/masking.h"

namespace tips::data {

namespace {

// (B, L) int64 ids in [1, vocab), each row padded with 0 after a length ~U[lo, hi].
torch::Tensor padded_tokens(int64_t B, int64_t L, int64_t vocab, int64_t lo, int64_t hi, at::Generator& gen) {
  lo = std::max<int64_t>(1, lo);
  hi = std::max(lo, std::min(hi, L));
  auto ids = torch::randint(1, vocab, {B, L}, gen, torch::kLong);
  const auto lengths = torch::randint(lo, hi + 1, {B, 1}, gen, torch::kLong);
  return ids.masked_fill(torch::arange(L, torch::kLong).unsqueeze(0) >= lengths, 0);
}

}  // namespace

Batch synthetic_batch(const SyntheticBatchSpec& spec, int64_t batch_size, uint64_t seed) {
  const auto& crops = spec.crops;
  const int64_t B = batch_size, G = crops.global_count, M = crops.local_count;
  const int64_t grid = crops.global_size / spec.patch_size;
  at::Generator gen = rng::generator(seed);
  Batch b;
  b.global_crops = torch::rand({G, B, 3, crops.global_size, crops.global_size}, gen);  // (G, B, 3, Sg, Sg)
  if (M > 0) b.local_crops = torch::rand({M, B, 3, crops.local_size, crops.local_size}, gen);
  const BlockMaskGenerator masker(spec.masking, grid, grid);
  rng::SplitMix mask_rng(rng::derive(seed, 1));
  b.masks = torch::empty({G, B, grid * grid}, torch::kBool);  // (G, B, N)
  for (int64_t g = 0; g < G; ++g)
    for (int64_t i = 0; i < B; ++i) b.masks[g][i].copy_(masker(mask_rng));
  const int64_t L = spec.max_len, V = spec.vocab_size;
  b.tokens1 = padded_tokens(B, L, V, /*lo=*/L / 8, /*hi=*/L / 2, gen);
  b.tokens2 = padded_tokens(B, L, V, /*lo=*/L / 4, /*hi=*/L, gen);
  b.labels = torch::full({B}, -1, torch::kLong);
  for (int64_t i = 0; i < B; ++i) {
    b.keys.push_back("synthetic/" + std::to_string(i));
    b.captions1.emplace_back();
    b.captions2.emplace_back();
    b.caption2_fields.emplace_back("synthetic");
  }
  return b;
}

}  // namespace tips::data
