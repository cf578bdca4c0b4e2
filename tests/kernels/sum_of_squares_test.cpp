// The one-pass sum of squares against ATen's float64 reduction of each tensor (the second source), its thread-count
// invariance, and where it applies.
#include "tips/kernels/sum_of_squares.h"

#include <gtest/gtest.h>

#include "skip_without_kernels.h"

namespace {

// Sizes below, at and across the kernel's 16384-value pieces, with a remainder; float32 and float64 mixed.
std::vector<torch::Tensor> mixed_tensors() {
  torch::manual_seed(11);
  return {torch::randn({300, 129}),
          torch::randn({7}, torch::kDouble),
          torch::randn({40000}) * 1e-3,
          torch::randn({16384}),
          torch::zeros({0}),
          torch::randn({5, 3}, torch::kDouble) * 1e3};
}

double reference(const std::vector<torch::Tensor>& tensors) {
  double total = 0;
  for (const auto& t : tensors) total += t.to(torch::kDouble).square().sum().item<double>();
  return total;
}

TEST(SumOfSquares, MatchesFloat64ReductionOfEachTensor) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto tensors = mixed_tensors();
  const double expected = reference(tensors);
  EXPECT_NEAR(tips::kernels::sum_of_squares(tensors), expected, 1e-12 * expected);
  EXPECT_EQ(tips::kernels::sum_of_squares({torch::tensor({3.0f, 4.0f})}), 25.0);  // by hand
}

TEST(SumOfSquares, SameBitsOnOneAndTwoThreads) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto tensors = mixed_tensors();
  const int threads_before = at::get_num_threads();
  at::set_num_threads(1);
  const double one = tips::kernels::sum_of_squares(tensors);
  at::set_num_threads(2);
  const double two = tips::kernels::sum_of_squares(tensors);
  at::set_num_threads(threads_before);
  EXPECT_EQ(one, two);
}

TEST(SumOfSquares, NonFiniteValuesCarryThrough) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto tensors = mixed_tensors();
  tensors[2][123] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(tips::kernels::sum_of_squares(tensors)));
  tensors[2][123] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(tips::kernels::sum_of_squares(tensors)));
}

TEST(SumOfSquares, AppliesOnlyToContiguousFloatCpuTensors) {
  SKIP_WITHOUT_FUSED_KERNELS();
  EXPECT_TRUE(tips::kernels::fused_sum_of_squares_applies({torch::zeros({4}), torch::zeros({2}, torch::kDouble)}));
  EXPECT_FALSE(tips::kernels::fused_sum_of_squares_applies({torch::zeros({4}, torch::kBFloat16)}));
  EXPECT_FALSE(tips::kernels::fused_sum_of_squares_applies({torch::zeros({3, 4}).t()}));
  EXPECT_FALSE(tips::kernels::fused_sum_of_squares_applies({torch::Tensor()}));
  EXPECT_FALSE(tips::kernels::fused_sum_of_squares_applies({}));
}

}  // namespace
