#include "tips/train/teacher.h"

#include <gtest/gtest.h>

#include "tips/core/error.h"
#include "tips/loss/dino.h"
#include "tips/model/param_count.h"
#include "tips/model/presets.h"
#include "tips/model/vit.h"

namespace {

using tips::train::EmaScope;
using tips::train::Teacher;
using tips::train::TargetKind;
using tips::train::TargetNorm;

// A small Cloneable stand-in for the vision tower.
struct TinyNetImpl : torch::nn::Cloneable<TinyNetImpl> {
  TinyNetImpl() { reset(); }
  void reset() override {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    gamma = register_parameter("gamma", torch::ones({2}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc->forward(x) * gamma; }
  torch::nn::Linear fc{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(TinyNet);

tips::model::HeadsConfig heads_cfg() {
  tips::model::HeadsConfig c;
  c.prototypes = 6;
  c.hidden = 5;
  c.bottleneck = 4;
  c.num_layers = 2;
  c.ibot_separate = true;
  return c;
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

struct Rig {
  tips::model::ProjectionHeads heads{heads_cfg(), /*in_dim=*/3, /*seed=*/1};
  TinyNet net;
  std::unique_ptr<Teacher> teacher;
  explicit Rig(EmaScope scope, TargetNorm norm = {}) {
    tips::train::TeacherConfig cfg;
    cfg.ema = scope;
    teacher = std::make_unique<Teacher>(cfg, norm, norm, heads, net.ptr());
  }
};

TEST(Teacher, WhatEachPolicyHolds) {
  struct Case {
    EmaScope scope;
    bool heads_copied, backbone_copied;
  };
  const Case cases[] = {{EmaScope::kHeadOnly, true, false}, {EmaScope::kFull, true, true}, {EmaScope::kNone, false, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE("scope " + std::to_string(static_cast<int>(c.scope)));
    Rig s(c.scope);
    auto& t = *s.teacher;
    const int64_t heads_n = count(*s.heads), net_n = count(*s.net);  // 2 * (3*5+5 + 5*4+4 + 6*4) = 136, 8
    EXPECT_EQ(heads_n, 136);
    EXPECT_EQ(t.parameter_count(), (c.heads_copied ? heads_n : 0) + (c.backbone_copied ? net_n : 0));
    EXPECT_EQ(t.backbone_copy() != nullptr, c.backbone_copied);
    // Storage: the copies own theirs; without a copy the teacher uses the student's tensors.
    const bool same_heads = t.teacher_heads()->dino->last_layer->weight_v.data_ptr() ==
                            s.heads->dino->last_layer->weight_v.data_ptr();
    EXPECT_EQ(same_heads, !c.heads_copied);
    const auto tb = t.teacher_backbone(s.net);
    EXPECT_EQ(tb->fc->weight.data_ptr() == s.net->fc->weight.data_ptr(), !c.backbone_copied);
    EXPECT_TRUE(torch::equal(tb->fc->weight, s.net->fc->weight));
    if (c.heads_copied) {
      for (const auto& p : t.teacher_heads()->parameters()) EXPECT_FALSE(p.requires_grad());
    }
  }
}

TEST(Teacher, EmaUpdateIsExact) {
  for (EmaScope scope : {EmaScope::kHeadOnly, EmaScope::kFull}) {
    SCOPED_TRACE("scope " + std::to_string(static_cast<int>(scope)));
    Rig s(scope);
    {
      torch::NoGradGuard ng;
      for (auto& p : s.teacher->teacher_heads()->parameters()) p.fill_(2.0);
      for (auto& p : s.heads->parameters()) p.fill_(10.0);
      if (scope == EmaScope::kFull) {
        for (auto& p : s.teacher->backbone_copy()->parameters()) p.fill_(-1.0);
        for (auto& p : s.net->parameters()) p.fill_(3.0);
      }
    }
    s.teacher->update(0.9);  // 0.9 * 2 + 0.1 * 10 = 2.8 ; 0.9 * -1 + 0.1 * 3 = -0.6
    s.teacher->update(0.5);  // 0.5 * 2.8 + 0.5 * 10 = 6.4 ; 0.5 * -0.6 + 0.5 * 3 = 1.2
    for (const auto& p : s.teacher->teacher_heads()->parameters())
      EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 6.4), 0, 1e-6));
    for (const auto& p : s.heads->parameters()) EXPECT_TRUE(torch::equal(p, torch::full_like(p, 10.0)));
    if (scope == EmaScope::kFull) {
      for (const auto& p : s.teacher->backbone_copy()->parameters())
        EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.2), 0, 1e-6));
    }
  }
}

TEST(Teacher, NoneSharesTheStudentHeadsAndUpdateIsANoOp) {
  Rig s(EmaScope::kNone);
  const auto before = s.heads->dino->last_layer->weight_v.clone();
  s.teacher->update(0.5);
  EXPECT_TRUE(torch::equal(s.heads->dino->last_layer->weight_v, before));
  EXPECT_EQ(s.teacher->teacher_heads().ptr(), s.heads.ptr());
}

TEST(Teacher, CenterUpdateIsExactAndGlobal) {
  TargetNorm norm;
  norm.center_momentum = 0.75;
  Rig s(EmaScope::kHeadOnly, norm);
  auto& t = *s.teacher;
  const auto a = torch::tensor({{1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {3.f, 2.f, 1.f, 0.f, -1.f, -2.f}});  // mean {2,2,2,2,2,2}
  t.update_center(TargetKind::kDino, a);
  EXPECT_TRUE(torch::allclose(t.center(TargetKind::kDino), torch::full({6}, 0.25f * 2), 0, 1e-7));
  EXPECT_EQ(t.center(TargetKind::kIbot).abs().sum().item<float>(), 0.0f);
  // A second "rank" contributes 1 row of 8s: global mean over 3 rows = (2*2 + 8) / 3 = 4.
  const tips::loss::SumReducer other_rank = [](const torch::Tensor& x) {
    return x.dim() == 0 ? x + 1 : x + torch::full_like(x, 8.0);
  };
  t.update_center(TargetKind::kDino, a.unsqueeze(0), other_rank);  // leading dims are flattened
  EXPECT_TRUE(torch::allclose(t.center(TargetKind::kDino), torch::full({6}, 0.75f * 0.5f + 0.25f * 4), 0, 1e-6));
}

TEST(Teacher, TargetsUseTheCenterFromBeforeTheBatch) {
  TargetNorm norm;
  norm.center_momentum = 0.5;
  Rig s(EmaScope::kHeadOnly, norm);
  const auto logits = torch::tensor({{{0.2f, -0.1f, 0.4f, 0.0f, 0.3f, -0.5f}}});  // (1, 1, 6)
  const auto p1 = s.teacher->targets(TargetKind::kIbot, logits, 0.1);
  EXPECT_TRUE(torch::allclose(p1, torch::softmax(logits / 0.1, -1)));  // center was 0
  // The batch is staged: the center moves only when the step is committed.
  EXPECT_EQ(s.teacher->center(TargetKind::kIbot).abs().sum().item<float>(), 0.0f);
  s.teacher->commit_centers();
  EXPECT_TRUE(torch::allclose(s.teacher->center(TargetKind::kIbot), 0.5 * logits.reshape({6})));
  const auto p2 = s.teacher->targets(TargetKind::kIbot, logits, 0.1);
  EXPECT_TRUE(torch::allclose(p2, torch::softmax((logits - 0.5 * logits) / 0.1, -1)));
}

TEST(Teacher, SinkhornTargetsLeaveTheCenterAlone) {
  TargetNorm norm;
  norm.centering = tips::loss::Centering::kSinkhorn;
  norm.sinkhorn_iters = 3;
  Rig s(EmaScope::kHeadOnly, norm);
  const auto logits = torch::rand({2, 3, 6}) * 2 - 1;
  const auto p = s.teacher->targets(TargetKind::kDino, logits, 0.05);
  EXPECT_EQ(p.sizes(), logits.sizes());
  EXPECT_TRUE(torch::allclose(p.reshape({6, 6}), tips::loss::sinkhorn_knopp(logits.reshape({6, 6}), 0.05, 3)));
  EXPECT_EQ(s.teacher->center(TargetKind::kDino).abs().sum().item<float>(), 0.0f);
}

TEST(Teacher, StateRoundTripsAndIsStrict) {
  Rig a(EmaScope::kFull), b(EmaScope::kFull);
  a.teacher->update_center(TargetKind::kDino, torch::rand({4, 6}));
  {
    torch::NoGradGuard ng;
    for (auto& p : a.teacher->backbone_copy()->parameters()) p.add_(1.0);
  }
  const auto saved = a.teacher->state();
  EXPECT_EQ(saved.size(), 2 + a.heads->parameters().size() + a.net->parameters().size());
  b.teacher->load_state(saved);
  const auto loaded = b.teacher->state();
  ASSERT_EQ(loaded.size(), saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    SCOPED_TRACE(saved[i].first);
    EXPECT_EQ(saved[i].first, loaded[i].first);
    EXPECT_TRUE(torch::equal(saved[i].second, loaded[i].second));
  }
  Rig head_only(EmaScope::kHeadOnly);
  EXPECT_THROW(head_only.teacher->load_state(saved), tips::CheckpointError);  // unexpected backbone.*
  EXPECT_THROW(b.teacher->load_state(head_only.teacher->state()), tips::CheckpointError);  // missing backbone.*
}

// The real vision tower: full EMA holds an independent, exact copy that follows the student by EMA.
TEST(Teacher, FullEmaOfAVisionTransformer) {
  const auto vc = tips::model::vision_preset("tiny");
  tips::model::VisionTransformer vit(vc, /*seed=*/3);
  tips::model::ProjectionHeads heads(heads_cfg(), vc.dim, 1);
  tips::train::TeacherConfig cfg;
  cfg.ema = EmaScope::kFull;
  Teacher teacher(cfg, {}, {}, heads, vit.ptr());
  EXPECT_EQ(teacher.parameter_count(), tips::model::vision_param_count(vc) + count(*heads));
  auto tvit = teacher.teacher_backbone(vit);
  ASSERT_NE(tvit.ptr(), vit.ptr());
  const auto images = torch::rand({2, 3, 2 * vc.patch_size, 2 * vc.patch_size});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(tvit->forward(images).cls1, vit->forward(images).cls1));
  for (auto& p : vit->parameters()) p.add_(0.5);
  teacher.update(0.75);  // every teacher tensor moves by (1 - 0.75) * 0.5
  const auto student = vit->named_parameters();
  for (const auto& item : tvit->named_parameters()) {
    SCOPED_TRACE(item.key());
    EXPECT_TRUE(torch::allclose(item.value(), student[item.key()] - 0.375, 1e-5, 1e-6));
  }
}

TEST(Teacher, FullWithoutBackboneIsAConfigError) {
  tips::train::TeacherConfig cfg;
  cfg.ema = EmaScope::kFull;
  tips::model::ProjectionHeads heads(heads_cfg(), 3, 1);
  EXPECT_THROW((Teacher{cfg, TargetNorm{}, TargetNorm{}, heads, nullptr}), tips::ConfigError);
}

}  // namespace
