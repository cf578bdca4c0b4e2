#include "tips/data/memory_source.h"

#include "tips/core/error.h"

namespace tips::data {

MemorySource::MemorySource(std::vector<SourceItem> items) : items_(std::move(items)) {
  if (items_.empty()) throw DataError("MemorySource: no samples", "pass at least one SourceItem");
}

SourceItem MemorySource::next() {
  SourceItem item = items_[static_cast<size_t>(state_.position)];
  if (++state_.position == epoch_size()) state_ = {state_.epoch + 1, 0};
  return item;
}

void MemorySource::restore(const SourceState& s) {
  TORCH_CHECK(s.epoch >= 0 && s.position >= 0 && s.position < epoch_size(), "MemorySource::restore: position ",
              s.position, " (epoch ", s.epoch, ") outside [0, ", epoch_size(), ")");
  state_ = s;
}

}  // namespace tips::data
