#include "tips/train/optim.h"

#include <cmath>
#include <limits>
#include <map>

#include "tips/core/compat.h"
#include "tips/kernels/adamw.h"

namespace tips::train {

bool no_weight_decay(const std::string& name, const torch::Tensor& p) {
  if (p.dim() <= 1) return true;  // biases, norm weights, LayerScale gammas, temperature
  for (const char* token : {"cls_token", "register_tokens", "mask_token", "pos_embed"})
    if (name.find(token) != std::string::npos) return true;
  return false;
}

double clip_factor(double grad_norm, double max_norm) {
  return max_norm > 0 && grad_norm > max_norm ? max_norm / (grad_norm + 1e-6) : 1.0;
}

std::vector<ParamGroup> make_param_groups(const std::vector<NamedParam>& params, const OptimConfig& cfg,
                                          int64_t vision_depth) {
  std::map<std::pair<double, double>, ParamGroup> groups;
  for (const auto& np : params) {
    if (!np.param.requires_grad()) continue;
    double lr_mult = 1.0;
    if (np.vision_layer != std::numeric_limits<int64_t>::min() && cfg.layer_decay < 1.0) {
      // DINOv2 convention: embeddings are layer 0, block i is i + 1, the final norm depth + 1.
      const int64_t layer = np.vision_layer + 1;
      lr_mult *= std::pow(cfg.layer_decay, static_cast<double>(vision_depth + 1 - layer));
    }
    if (np.name.find("patch_embed") != std::string::npos) lr_mult *= cfg.patch_embed_lr_mult;
    const double wd_mult = no_weight_decay(np.name, np.param) ? 0.0 : 1.0;
    auto& g = groups[{lr_mult, wd_mult}];
    g.lr_mult = lr_mult;
    g.wd_mult = wd_mult;
    g.params.push_back(np.param);
    g.names.push_back(np.name);
  }
  std::vector<ParamGroup> out;
  for (auto& [key, g] : groups) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s/lr%.4f", g.wd_mult > 0 ? "decay" : "no_decay", g.lr_mult);
    g.name = buf;
    out.push_back(std::move(g));
  }
  return out;
}

namespace {

// Every gradient back to undefined. Backward then hands each parameter its first gradient as it is (a zeroed
// buffer would cost a memset and an add per tensor, 2 x 106 ops in the demo step), and the update skips a parameter
// that got none, as it skips one that never had any. LibTorch 2.x's own zero_grad() does the same by default; 1.13's
// zeroes in place, so both builds call this instead.
void drop_grads(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

// grad <- grad * scale for every parameter with a gradient (nothing when scale is 1).
void scale_grads(const std::vector<torch::Tensor>& params, double scale) {
  if (scale == 1.0) return;
  torch::NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad().mul_(scale);
}

class AdamW final : public Optimizer {
 public:
  AdamW(const std::vector<ParamGroup>& groups, const OptimConfig& cfg) {
    std::vector<torch::optim::OptimizerParamGroup> pg;
    for (const auto& g : groups) {
      auto opts = std::make_unique<torch::optim::AdamWOptions>(cfg.lr.start);
      opts->betas({cfg.beta1, cfg.beta2}).eps(cfg.eps).weight_decay(0.0);
      pg.emplace_back(g.params, std::move(opts));
      mults_.emplace_back(g.lr_mult, g.wd_mult);
    }
    impl_ = std::make_unique<torch::optim::AdamW>(pg, torch::optim::AdamWOptions(cfg.lr.start));
    betas_ = {cfg.beta1, cfg.beta2, cfg.eps};
  }
  void set_lr_wd(double lr, double wd) override {
    auto& groups = impl_->param_groups();
    for (size_t i = 0; i < groups.size(); ++i) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(groups[i].options());
      o.lr(lr * mults_[i].first);
      o.weight_decay(wd * mults_[i].second);
    }
  }
  // LibTorch's step, or the same update as one fused pass over every tensor (kernels/adamw.h) where it applies;
  // that pass applies grad_scale as it reads each gradient.
  void step_scaled(double grad_scale) override {
    std::vector<torch::optim::AdamWParamState*> states;
    std::vector<kernels::AdamWSlot> slots = fused_slots(states);
    if (!kernels::fused_adamw_applies(slots)) {
      for (const auto& group : impl_->param_groups()) scale_grads(group.params(), grad_scale);
      impl_->step();
      return;
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < slots.size(); ++i) {
      states[i]->step(states[i]->step() + 1);
      slots[i].step = states[i]->step();
    }
    kernels::fused_adamw(slots, betas_, grad_scale);
  }
  void zero_grad() override {
    for (const auto& group : impl_->param_groups()) drop_grads(group.params());
  }
  void save(torch::serialize::OutputArchive& ar) const override { impl_->save(ar); }
  void load(torch::serialize::InputArchive& ar) override { impl_->load(ar); }
  int64_t state_bytes() const override {
    int64_t bytes = 0;
    for (const auto& [key, state] : impl_->state()) {
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*state);
      bytes += s.exp_avg().nbytes() + s.exp_avg_sq().nbytes();
    }
    return bytes;
  }

 private:
  // The parameters with a gradient, their state (created as LibTorch's step creates it, so that save() writes the
  // same archive either way; `states` gets each slot's, in order) and their group's lr and weight decay; `step` is
  // filled in by step().
  std::vector<kernels::AdamWSlot> fused_slots(std::vector<torch::optim::AdamWParamState*>& states) {
    std::vector<kernels::AdamWSlot> slots;
    for (auto& group : impl_->param_groups()) {
      const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
      if (o.amsgrad()) return {};
      for (const auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& state = state_of(p);
        states.push_back(&state);
        slots.push_back({p, p.grad(), state.exp_avg(), state.exp_avg_sq(), o.lr(), o.weight_decay(), 0});
      }
    }
    return slots;
  }
  torch::optim::AdamWParamState& state_of(const torch::Tensor& p) {
    auto& slot = impl_->state()[compat::optimizer_state_key(impl_->state(), p)];
    if (!slot) {
      auto fresh = std::make_unique<torch::optim::AdamWParamState>();
      fresh->step(0);
      fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(fresh);
    }
    return static_cast<torch::optim::AdamWParamState&>(*slot);
  }

  std::unique_ptr<torch::optim::AdamW> impl_;
  std::vector<std::pair<double, double>> mults_;
  kernels::AdamWBetas betas_{};
};

class Adafactor final : public Optimizer {
 public:
  Adafactor(const std::vector<ParamGroup>& groups, const OptimConfig& cfg) : groups_(groups) {
    opts_.beta1 = cfg.beta1;
    opts_.beta2 = cfg.beta2;
    for (const auto& g : groups_)
      for (const auto& p : g.params) {
        // State in float32 (bf16/fp16 params too); float64 params keep float64 state.
        const auto state_opts = p.options().dtype(p.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
        State s;
        if (p.dim() >= 2) {
          s.row = torch::zeros(p.sizes().slice(0, p.dim() - 1), state_opts);  // (..., R)
          auto col_shape = p.sizes().vec();
          col_shape.erase(col_shape.end() - 2);
          s.col = torch::zeros(col_shape, state_opts);  // (..., C)
        } else {
          s.v = torch::zeros_like(p, state_opts);
        }
        if (opts_.beta1 > 0) s.m = torch::zeros_like(p, state_opts);
        state_.push_back(std::move(s));
      }
  }
  void set_lr_wd(double lr, double wd) override {
    lr_ = lr;
    wd_ = wd;
  }
  void zero_grad() override {
    for (const auto& g : groups_) drop_grads(g.params);
  }
  void step_scaled(double grad_scale) override {
    torch::NoGradGuard no_grad;
    for (const auto& g : groups_) scale_grads(g.params, grad_scale);
    ++steps_;
    size_t i = 0;
    for (const auto& g : groups_) {
      const double lr = lr_ * g.lr_mult, wd = wd_ * g.wd_mult;
      for (const auto& p : g.params) {
        State& s = state_[i++];
        if (!p.grad().defined()) continue;
        const auto grad = p.grad().to(s.row.defined() ? s.row.scalar_type() : s.v.scalar_type());
        const auto g2 = grad.square() + opts_.eps;
        torch::Tensor update;
        if (p.dim() >= 2) {
          s.row.mul_(opts_.beta2).add_(g2.mean(-1), 1 - opts_.beta2);
          s.col.mul_(opts_.beta2).add_(g2.mean(-2), 1 - opts_.beta2);
          // v ~ row col^T / mean(row): the rank-1 factorisation of the second moment.
          const auto row_norm = s.row / s.row.mean(-1, /*keepdim=*/true);
          update = grad * row_norm.unsqueeze(-1).rsqrt() * s.col.unsqueeze(-2).rsqrt();
        } else {
          s.v.mul_(opts_.beta2).add_(g2, 1 - opts_.beta2);
          update = grad * s.v.rsqrt();
        }
        // Update clipping, divide by max(1, RMS / d), on the device: a host read per parameter would sync a GPU
        // step hundreds of times.
        update.div_((update.square().mean().sqrt() / opts_.clip_threshold).clamp_min(1.0));
        if (opts_.beta1 > 0) {
          s.m.mul_(opts_.beta1).add_(update, 1 - opts_.beta1);
          update = s.m;
        }
        if (wd > 0) p.mul_(1 - lr * wd);
        p.add_(update.to(p.scalar_type()), -lr);
      }
    }
  }
  void save(torch::serialize::OutputArchive& ar) const override {
    ar.write("steps", c10::IValue(steps_));
    for (size_t i = 0; i < state_.size(); ++i) {
      const std::string k = "p" + std::to_string(i) + "/";
      for (const auto& [name, t] : state_[i].named())
        if (t.defined()) ar.write(k + name, t, /*is_buffer=*/true);
    }
  }
  void load(torch::serialize::InputArchive& ar) override {
    c10::IValue v;
    ar.read("steps", v);
    steps_ = v.toInt();
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < state_.size(); ++i) {
      const std::string k = "p" + std::to_string(i) + "/";
      for (auto& [name, t] : state_[i].named())
        if (t.defined()) {
          torch::Tensor loaded;
          ar.read(k + name, loaded, /*is_buffer=*/true);
          t.copy_(loaded);
        }
    }
  }
  int64_t state_bytes() const override {
    int64_t bytes = 0;
    for (const auto& s : state_)
      for (const auto& [name, t] : s.named())
        if (t.defined()) bytes += t.nbytes();
    return bytes;
  }

 private:
  struct State {
    torch::Tensor row, col, v, m;
    std::vector<std::pair<std::string, torch::Tensor>> named() const {
      return {{"row", row}, {"col", col}, {"v", v}, {"m", m}};
    }
  };
  std::vector<ParamGroup> groups_;
  std::vector<State> state_;
  AdafactorOptions opts_;
  double lr_ = 0, wd_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const std::vector<ParamGroup>& groups, const OptimConfig& cfg) {
  if (cfg.name == OptimizerKind::kAdafactor) return std::make_unique<Adafactor>(groups, cfg);
  return std::make_unique<AdamW>(groups, cfg);
}

}  // namespace tips::train
