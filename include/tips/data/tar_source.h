// tips/data/tar_source.h - a SampleSource over WebDataset / img2dataset tar shards, streamed with libarchive.
//
// A shard holds member groups sharing a key (the path up to the first '.' of the file name):
//   000123.jpg|jpeg|png|webp   the image (first of these extensions present), passed on undecoded
//   000123.txt                 caption -> RawSample::captions[txt_field] ("alt_text")
//   000123.json                object: string fields -> captions by name, label_field -> label
//   000123.cls                 integer class id as text -> label
// Members must be adjacent per key (as WebDataset writes them); other extensions are ignored.
// Epoch e: shards permuted with rng::derive(seed, e); shard at permuted position i goes to rank i % world.
// With fewer shards than ranks every rank reads every shard and keeps samples g % world == rank (logged).
// Samples pass through a shuffle buffer (shuffle_buffer samples, SplitMix seeded per epoch and rank).
// state().position counts items yielded this epoch; restore() replays the epoch up to that point
// (re-reading the consumed shard bytes, no decoding), so the continuation is exact.
// A missing shard, a truncated tar or a corrupt member yields one error item and the next shard starts.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tips/core/rng.h"
#include "tips/data/manifest_source.h"
#include "tips/data/source.h"

namespace tips::data {

struct TarSourceOptions {
  ManifestFields fields;              // label_field is read from .json members
  int64_t shuffle_buffer = 1000;      // samples held for shuffling (1 = shard order)
  std::string txt_field = "alt_text"; // caption field of the .txt member
};

class TarSource : public SampleSource {
 public:
  // shards: paths (expand_braces() output). Throws DataError when none of them exists.
  TarSource(std::vector<std::string> shards, TarSourceOptions opts, uint64_t seed, int rank, int world_size);
  ~TarSource() override;

  SourceItem next() override;
  SourceState state() const override { return state_; }
  void restore(const SourceState& s) override;
  // Items this rank yielded in its last completed epoch (-1 before the first one ends); shard
  // assignment changes per epoch, so this is an estimate for the next epoch.
  int64_t epoch_size() const override { return last_epoch_size_; }

  // Which shards this rank reads in `epoch`, in order (all shards when striding samples).
  std::vector<std::string> epoch_shards(int64_t epoch) const;
  bool strides_samples() const { return shards_.size() < static_cast<size_t>(world_); }

 private:
  class ShardReader;
  void start_epoch(int64_t epoch);
  std::optional<SourceItem> pull();  // this rank's next item before shuffling; nullopt at epoch end

  std::vector<std::string> shards_;
  TarSourceOptions opts_;
  uint64_t seed_;
  int rank_, world_;
  SourceState state_;
  int64_t last_epoch_size_ = -1;
  // epoch cursor
  std::vector<std::string> epoch_shards_;
  size_t next_shard_ = 0;
  int64_t stream_index_ = 0;           // items seen across all ranks' strides (striding mode)
  std::unique_ptr<ShardReader> reader_;
  bool exhausted_ = false;
  std::vector<SourceItem> buffer_;
  rng::SplitMix buffer_rng_{0};
};

}  // namespace tips::data
