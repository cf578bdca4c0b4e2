// tips/loss/config.h - which loss terms run and with what weights/temperatures (YAML section `loss`).
// A weight of 0 removes the term entirely: it is not computed. Defaults reproduce TIPSv2:
// L = contrastive + 1.0 * DINO + 2.0 * iBOT++ (all patches).
#pragma once
#include <cstdint>

#include "tips/core/schedule.h"

namespace tips::loss {

enum class ContrastiveKind { kSoftmax, kSigmoid };
enum class ImageView { kUnmasked, kMasked };      // which global-crop forward feeds the contrastive loss
enum class ClsChoice { kCls1, kCls2, kBoth };     // which CLS token(s) feed the DINO head
enum class Centering { kEma, kSinkhorn };         // teacher target normalisation
enum class PatchSource { kLocal, kGlobal };       // which patch tokens compete in the patch-text loss

struct ContrastiveConfig {
  double weight = 1.0;                                  // 0 disables
  ContrastiveKind kind = ContrastiveKind::kSoftmax;     // softmax (CLIP/TIPS) | sigmoid (SigLIP)
  double temperature_init = 0.07;                       // learnable tau; trained TIPS ends at ~0.004
  bool learn_temperature = true;                        // not clamped: see issue 3
  double sigmoid_bias_init = -10.0;                     // SigLIP logit bias init (sigmoid only)
  ImageView image_view = ImageView::kUnmasked;          // unmasked global crop (default) or masked view
  bool two_streams = true;                              // (CLS1, stream1) + (CLS2, stream2) averaged; false: CLS1 only
};

struct DinoConfig {
  double weight = 1.0;                                  // alpha; 0 disables
  ClsChoice cls = ClsChoice::kCls1;                     // which CLS feeds the DINO head
  double student_temp = 0.1;
  ScheduleConfig teacher_temp{0.07, 0.07, 0.07, 0, ScheduleShape::kConstant};  // 0.07 throughout (DINOv2 warms up
                                                        // from 0.04: warmup_from, warmup_steps)
  Centering centering = Centering::kEma;
  double center_momentum = 0.9;
  int64_t sinkhorn_iters = 3;
  bool global_student = false;                          // also use the masked global crop as a student view
};

struct IbotConfig {
  double weight = 2.0;                                  // beta; 0 disables
  bool all_patches = true;                              // true: iBOT++ (every patch); false: masked only (iBOT)
  bool separate_group_means = false;                    // all_patches: mean(masked)+mean(visible) instead of Eq. 3
  double student_temp = 0.1;
  ScheduleConfig teacher_temp{0.07, 0.07, 0.07, 0, ScheduleShape::kConstant};  // 0.07 throughout (DINOv2 warms up
                                                        // from 0.04: warmup_from, warmup_steps)
  Centering centering = Centering::kEma;
  double center_momentum = 0.9;
  int64_t sinkhorn_iters = 3;
};

struct KoleoConfig {
  double weight = 0.0;                                  // off by default (not in TIPS)
};

// Multiple-instance patch-text contrastive loss (tips/loss/patch_text.h). NOT in TIPSv2: an extension for models
// too small or too briefly trained for patch-text alignment to emerge (the embedded demo). It pairs the patch
// tokens with caption stream 1 (the alt-text, CLS1's stream) and shares the contrastive temperature.
struct PatchTextConfig {
  double weight = 0.0;                                  // 0 disables (the recipe)
  // local: the patches of all the local crops of an image compete (each crop is seen alone, so its background
  // patches cannot borrow the class of an item outside it); global: the unmasked global crop's patches (measured:
  // the model then writes the caption into the background patches, docs/results.md).
  PatchSource patches = PatchSource::kLocal;
};

// True when the patch-text loss needs the local crops' forward.
inline bool uses_local_patches(const PatchTextConfig& p) { return p.weight > 0 && p.patches == PatchSource::kLocal; }

enum class DistillKind { kCosine, kSmoothL1 };

// Feature distillation from a frozen teacher (teacher.source=frozen, teacher.targets=features): the student's CLS
// and patch tokens, through a learned projection to the teacher's width, match the teacher's tokens (loss/distill.h).
struct DistillConfig {
  double weight = 0.0;                                  // 0 disables
  double cls_weight = 1.0;                              // both CLS tokens
  double patch_weight = 1.0;                            // weight of the patch tokens' term
  bool all_patches = true;                              // every patch, as iBOT++ (false: the masked patches only)
  DistillKind kind = DistillKind::kCosine;              // cosine: 1 - cos; smooth_l1: Huber (beta 1) per dim
};

struct LossConfig {
  ContrastiveConfig contrastive;
  DinoConfig dino;
  IbotConfig ibot;
  KoleoConfig koleo;
  PatchTextConfig patch_text;
  DistillConfig distill;
};

}  // namespace tips::loss
