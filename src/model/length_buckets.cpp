#include "tips/model/length_buckets.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace tips::model {

std::vector<int64_t> valid_lengths(const torch::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2 && !ids.is_floating_point(), "valid_lengths: ids must be integer (B, L), got ",
              ids.sizes(), " ", ids.scalar_type());
  // Position p + 1 where the token is not padding, else 0; the row's maximum is its valid length.
  const auto positions = torch::arange(1, ids.size(1) + 1, ids.options().dtype(torch::kLong));
  const auto lengths = (positions.unsqueeze(0) * (ids != 0).to(torch::kLong)).amax(1).cpu().contiguous();
  const int64_t* p = lengths.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + lengths.numel());
}

namespace {

// best[k][j]: the fewest positions that cover the j shortest rows with k buckets; cut[k][j]: where the last of
// those buckets starts. sorted_len holds the columns each row needs, ascending (at least 1).
struct Partition {
  std::vector<std::vector<int64_t>> best, cut;
};

Partition partition(const std::vector<int64_t>& sorted_len, int max_buckets) {
  const auto n = static_cast<int64_t>(sorted_len.size());
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  Partition p{std::vector<std::vector<int64_t>>(max_buckets + 1, std::vector<int64_t>(n + 1, kNone)),
              std::vector<std::vector<int64_t>>(max_buckets + 1, std::vector<int64_t>(n + 1, 0))};
  p.best[0][0] = 0;
  for (int k = 1; k <= max_buckets; ++k)
    for (int64_t j = 1; j <= n; ++j)
      for (int64_t i = 0; i < j; ++i) {
        if (p.best[k - 1][i] == kNone) continue;
        const int64_t cost = p.best[k - 1][i] + (j - i) * sorted_len[j - 1];
        if (cost < p.best[k][j]) p.best[k][j] = cost, p.cut[k][j] = i;
      }
  return p;
}

}  // namespace

std::vector<LengthBucket> length_buckets(const std::vector<int64_t>& lengths, int max_buckets, double min_saving) {
  TORCH_CHECK(max_buckets >= 1, "length_buckets: max_buckets must be >= 1, got ", max_buckets);
  const auto n = static_cast<int64_t>(lengths.size());
  if (n == 0) return {};
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths[a] < lengths[b]; });
  std::vector<int64_t> sorted_len(n);  // a row of padding only still keeps one column
  for (int64_t i = 0; i < n; ++i) sorted_len[i] = std::max<int64_t>(lengths[order[i]], 1);

  const int k_max = static_cast<int>(std::min<int64_t>(max_buckets, n));
  const Partition p = partition(sorted_len, k_max);
  int k = 1;
  while (k < k_max && p.best[k + 1][n] < p.best[k][n] &&
         static_cast<double>(p.best[k + 1][n]) <= (1.0 - min_saving) * static_cast<double>(p.best[k][n]))
    ++k;

  std::vector<LengthBucket> buckets(k);
  for (int64_t end = n, b = k; b >= 1; --b) {
    const int64_t start = p.cut[b][end];
    auto& bucket = buckets[b - 1];
    bucket.rows.assign(order.begin() + start, order.begin() + end);
    std::sort(bucket.rows.begin(), bucket.rows.end());
    bucket.length = sorted_len[end - 1];
    end = start;
  }
  return buckets;
}

}  // namespace tips::model
