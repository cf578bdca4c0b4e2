#include "tips/model/activation_checkpoint.h"

#include "tips/core/compat.h"

namespace tips::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides the saved input; saved_data holds IValues only, hence the capsule.
struct ReplayState : torch::CustomClassHolder {
  BlockImpl* block = nullptr;
  at::Generator gen_before;  // a copy of the drop-path generator before the forward (undefined: none)
  c10::DeviceType device = c10::DeviceType::CPU;  // the activations' device: its autocast state is replayed
  compat::AutocastState autocast;
};

class CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, BlockImpl* block, at::Generator* gen) {
    auto state = c10::make_intrusive<ReplayState>();
    state->block = block;
    if (gen != nullptr && gen->defined()) state->gen_before = gen->clone();
    state->device = x.device().type();
    state->autocast = compat::autocast_state(state->device);
    ctx->saved_data["replay"] = c10::IValue::make_capsule(state);
    ctx->save_for_backward({x});
    return block->forward(x, gen);  // autograd records nothing inside Function::forward
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto state = c10::static_intrusive_pointer_cast<ReplayState>(ctx->saved_data["replay"].toCapsule());
    const auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode grad_on(true);
      compat::AutocastGuard autocast(state->device, state->autocast.enabled, state->autocast.dtype);
      at::Generator replay_gen = state->gen_before.defined() ? state->gen_before.clone() : at::Generator();
      y = state->block->forward(x, replay_gen.defined() ? &replay_gen : nullptr);
    }
    // Accumulates into the block's parameter gradients and into x.grad.
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed_forward(BlockImpl& block, const torch::Tensor& x, at::Generator* gen) {
  if (!torch::GradMode::is_enabled()) return block.forward(x, gen);
  return CheckpointedBlock::apply(x, &block, gen);
}

}  // namespace tips::model
