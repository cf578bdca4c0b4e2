#include "tips/model/length_buckets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace {

using tips::model::length_buckets;
using tips::model::LengthBucket;
using tips::model::valid_lengths;

int64_t positions(const std::vector<LengthBucket>& buckets) {
  int64_t n = 0;
  for (const auto& b : buckets) n += static_cast<int64_t>(b.rows.size()) * b.length;
  return n;
}

// Every row in exactly one bucket, rows ascending within a bucket, each bucket as long as its longest row.
void expect_a_cover(const std::vector<LengthBucket>& buckets, const std::vector<int64_t>& lengths) {
  std::vector<int> seen(lengths.size(), 0);
  for (const auto& b : buckets) {
    ASSERT_FALSE(b.rows.empty());
    EXPECT_TRUE(std::is_sorted(b.rows.begin(), b.rows.end()));
    int64_t longest = 1;
    for (int64_t r : b.rows) ++seen[r], longest = std::max(longest, lengths[r]);
    EXPECT_EQ(b.length, longest);
  }
  for (int s : seen) EXPECT_EQ(s, 1);
}

// The fewest positions over every assignment of the rows to at most k buckets (k^n assignments).
int64_t brute_force(const std::vector<int64_t>& lengths, int k) {
  const auto n = lengths.size();
  int64_t best = -1;
  std::vector<int> which(n, 0);
  for (;;) {
    std::vector<int64_t> count(k, 0), longest(k, 1);
    for (size_t i = 0; i < n; ++i) ++count[which[i]], longest[which[i]] = std::max(longest[which[i]], lengths[i]);
    int64_t cost = 0;
    for (int b = 0; b < k; ++b) cost += count[b] * longest[b];
    if (best < 0 || cost < best) best = cost;
    size_t i = 0;
    while (i < n && ++which[i] == k) which[i++] = 0;
    if (i == n) return best;
  }
}

TEST(LengthBuckets, ValidLengthIsOnePastTheLastToken) {
  const auto ids = torch::tensor({{5, 0, 3, 0}, {0, 0, 0, 0}, {1, 2, 3, 4}, {0, 0, 7, 0}}, torch::kInt);
  EXPECT_EQ(valid_lengths(ids), (std::vector<int64_t>{3, 0, 4, 3}));
  EXPECT_THROW(valid_lengths(torch::zeros({2, 3})), c10::Error);
}

TEST(LengthBuckets, HandComputedSplit) {
  // Sorted: 0 5 6 8 | 30 32. Two buckets: 4 x 8 + 2 x 32 = 96 positions against 6 x 32 = 192 in one. The best
  // third ({0} {5 6 8} {30 32}: 1 + 24 + 64 = 89; an empty row keeps one column) saves 7 %, under the 10 % asked.
  const std::vector<int64_t> lengths{6, 32, 5, 30, 0, 8};
  const auto buckets = length_buckets(lengths, 3, 0.1);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].rows, (std::vector<int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(buckets[0].length, 8);
  EXPECT_EQ(buckets[1].rows, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(buckets[1].length, 32);
  EXPECT_EQ(length_buckets(lengths, 3, 0.05).size(), 3u);  // 7 % is enough when 5 % is asked
  EXPECT_EQ(positions(length_buckets(lengths, 3, 0.05)), 89);
  EXPECT_EQ(length_buckets(lengths, 1).size(), 1u);
  EXPECT_EQ(positions(length_buckets(lengths, 1)), 192);
}

TEST(LengthBuckets, EqualLengthsStayOneBucket) {
  const auto buckets = length_buckets({7, 7, 7, 7}, 3, 0.0);
  ASSERT_EQ(buckets.size(), 1u);
  EXPECT_EQ(buckets[0].length, 7);
  EXPECT_EQ(length_buckets({0, 0}, 3)[0].length, 1);  // all padding still keeps one column
  EXPECT_TRUE(length_buckets({}, 3).empty());
}

TEST(LengthBuckets, FewestPositionsAgainstExhaustiveSearch) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(gen() % 7), k = 1 + static_cast<int>(gen() % 3);
    std::vector<int64_t> lengths(n);
    for (auto& l : lengths) l = static_cast<int64_t>(gen() % 12);
    SCOPED_TRACE("trial " + std::to_string(trial));
    const auto buckets = length_buckets(lengths, k, /*min_saving=*/0.0);
    expect_a_cover(buckets, lengths);
    EXPECT_LE(static_cast<int>(buckets.size()), k);
    EXPECT_EQ(positions(buckets), brute_force(lengths, k));
  }
}

}  // namespace
