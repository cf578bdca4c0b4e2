// tips/model/length_buckets.h - groups padded token rows by their valid length, so that a batch of short and
// long captions runs as a few narrower batches instead of one padded to the longest caption.
//
// Why: captions are padded to text.max_len, and a row's padding does no work that reaches its embedding (the text
// encoder masks padded keys, its MLP and its pooling), yet it costs as much compute as a token. On the demo data
// the alt-texts hold 6 of 32 tokens at the median, the medium captions 8 and the long ones all 32 (cut), so of the
// 4096 token positions of a step's two streams (128 rows x 32) the buckets compute about 2000.
//
// Legend: B rows, L padded length.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tips::model {

struct LengthBucket {
  std::vector<int64_t> rows;  // row indices into the batch, in increasing order
  int64_t length = 1;         // columns the bucket keeps: the longest valid length among its rows, at least 1
};

// Valid length of each row of integer (B, L) ids, padding id 0: one past the last non-padding token, 0 for a row
// of padding only. Copies B integers to the host.
std::vector<int64_t> valid_lengths(const torch::Tensor& ids);

// Splits the rows into at most max_buckets buckets of similar length that together cover every row once, with the
// fewest token positions, sum over buckets of rows x length (exact, by dynamic programming over the rows sorted by
// length). One bucket more is taken only when it saves positions, and at least min_saving of those of one bucket fewer,
// since each bucket is another set of kernel launches. Rows keep their batch order within a bucket.
std::vector<LengthBucket> length_buckets(const std::vector<int64_t>& lengths, int max_buckets = 3,
                                         double min_saving = 0.1);

}  // namespace tips::model
