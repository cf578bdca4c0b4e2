// compat::optimizer_state_key against LibTorch's own optimizers (the second source): the key it makes finds the state
// that torch::optim::AdamW created itself, and a pointer-keyed map (the later releases' layout) gets the pointer.
#include "tips/core/compat.h"

#include <gtest/gtest.h>

#include <unordered_map>

namespace {

TEST(Compat, OptimizerStateKeyFindsTheStateLibTorchCreated) {
  auto p = torch::ones({3}).requires_grad_();
  auto q = torch::ones({2}).requires_grad_();
  torch::optim::AdamW opt({p, q}, torch::optim::AdamWOptions(0.1));
  p.mutable_grad() = torch::ones({3});
  q.mutable_grad() = torch::ones({2});
  opt.step();
  auto& state = opt.state();
  ASSERT_EQ(state.size(), 2u);
  for (const torch::Tensor* t : {&p, &q}) {
    const auto found = state.find(tips::compat::optimizer_state_key(state, *t));
    ASSERT_NE(found, state.end());
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*found->second);
    EXPECT_EQ(s.exp_avg().sizes(), t->sizes());
    EXPECT_EQ(s.step(), 1);
  }
}

TEST(Compat, OptimizerStateKeyIsThePointerForAPointerKeyedMap) {
  const auto p = torch::zeros({4});
  const std::unordered_map<void*, int> pointer_keyed;
  EXPECT_EQ(tips::compat::optimizer_state_key(pointer_keyed, p), static_cast<void*>(p.unsafeGetTensorImpl()));
}

}  // namespace
