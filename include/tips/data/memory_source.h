// tips/data/memory_source.h - a SampleSource over samples held in memory: tests, `tips bench data`, and
// small evaluation sets. Yields items[0..n) in order every epoch (no shuffling, no rank sharding), so a
// position is simply an index; restore() seeks exactly.
#pragma once
#include <vector>

#include "tips/data/source.h"

namespace tips::data {

class MemorySource : public SampleSource {
 public:
  // Throws DataError when items is empty.
  explicit MemorySource(std::vector<SourceItem> items);

  SourceItem next() override;                      // items[position], then position + 1 (epoch + 1 at the end)
  SourceState state() const override { return state_; }
  void restore(const SourceState& s) override;     // TORCH_CHECKs 0 <= position < epoch_size()
  int64_t epoch_size() const override { return static_cast<int64_t>(items_.size()); }

 private:
  std::vector<SourceItem> items_;
  SourceState state_;
};

}  // namespace tips::data
