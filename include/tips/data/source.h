// tips/data/source.h - deterministic, resumable streams of RawSample from manifests and tar shards.
//
// A source yields, for (epoch, rank, world_size), a fixed sequence of samples: the rank's shard of an
// epoch-seeded shuffle. Its position is a SourceState; restoring it continues at exactly the next sample
// (manifests seek by index; tar shards replay headers without decoding). Bad records are not thrown:
// they come back with an error string so the loader can count and quarantine them.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tips/data/config.h"
#include "tips/data/sample.h"

namespace tips::data {

struct SourceState {
  int64_t epoch = 0;
  int64_t position = 0;   // samples (good or bad) already yielded by this rank in this epoch
};

struct SourceItem {
  RawSample sample;
  std::string error;      // non-empty: the record is unusable (reason for the quarantine log)
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Next item of this rank's stream; rolls over to the next epoch (reshuffled) at the end.
  virtual SourceItem next() = 0;
  virtual SourceState state() const = 0;
  virtual void restore(const SourceState& s) = 0;
  // Samples per epoch for this rank (-1 when unknown, e.g. tar shards before the first pass).
  virtual int64_t epoch_size() const = 0;
};

// Opens cfg.source at cfg.path (fashion_mosaic and manifest: a .jsonl/.csv/.tsv manifest; tar: a shard
// pattern with brace ranges). Throws DataError for a missing path or an empty source.
std::unique_ptr<SampleSource> open_source(const DataConfig& cfg, uint64_t seed, int rank, int world_size);

// Expands "a/{000..012}.tar" and "{x,y}.tar" patterns (zero padding kept). Throws DataError on a bad pattern.
std::vector<std::string> expand_braces(const std::string& pattern);

}  // namespace tips::data
