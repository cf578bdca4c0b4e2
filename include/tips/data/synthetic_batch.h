// tips/data/synthetic_batch.h - batches of the configured shapes without any data: what `tips bench train` feeds
// the step. Every field the Loader fills for the step has the Loader's shape,
// dtype and value range (tests/data/loader_test.cpp compares the two), so a step on a synthetic batch does the
// same work as on a real one.
#pragma once
#include <cstdint>

#include "tips/data/config.h"
#include "tips/data/sample.h"

namespace tips::data {

struct SyntheticBatchSpec {
  CropConfig crops;         // crop counts and sides
  MaskingConfig masking;    // block masks as the Loader draws them (data.masking)
  int64_t patch_size = 14;  // masks have (global_size / patch_size)^2 entries
  int64_t max_len = 64;     // text.max_len: token rows are (B, L)
  int64_t vocab_size = 32000;
};

// B samples: crops uniform in [0, 1]; block masks from spec.masking; caption ids in [1, vocab) padded with 0
// after a length ~U[L/8, L/2] (stream 1, alt-text-like) or ~U[L/4, L] (stream 2, longer captions); labels -1;
// keys "synthetic/<i>". On the CPU; deterministic in `seed`.
Batch synthetic_batch(const SyntheticBatchSpec& spec, int64_t batch_size, uint64_t seed);

}  // namespace tips::data
