// tips/eval/linear_probe.h - the dense linear probe: a linear classifier trained on frozen patch tokens, then
// scored on the segmentation canvases like the zero-shot readouts. Zero-shot segmentation asks whether the patches
// live in the text's space; the probe asks the question before it, whether they know what is where at all (the
// image-only "linear probe on frozen patch features" of TIPS and DINOv2). A model whose probe reads its items well
// but whose zero-shot readout sits at chance has dense features without patch-text alignment.
//
// The probe here, simpler than DINOv2's (no augmentation, no learning-rate grid):
//   - targets: each patch's class shares (background first), the oracle's per-patch fractions (oracle.h);
//   - features: one readout's patch tokens, standardised per channel with the training rows' mean and std;
//   - fit: softmax regression, mean soft cross-entropy + weight_decay / 2 * |W|^2 (the bias unpenalised), a convex
//     objective solved by L-BFGS in float64 from zero weights (deterministic; at most max_iterations, fewer when
//     every gradient entry falls below gradient_tolerance);
//   - scoring: the logits of every patch go through the same bilinear upsampling and SegScorer as the zero-shot
//     scores, with the background as class 0.
//
// Legend: M rows (patches), D width, C classes with the background (objects + 1), (h, w) patch grid.
// Example:
//   LinearProbe probe = fit_linear_probe(features /*(M, D)*/, shares /*(M, C)*/, {/*weight_decay=*/1e-5});
//   torch::Tensor logits = probe_logits(probe, patches /*(B, N, D)*/, h, w);   // (B, C, h, w)
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/eval/config.h"
#include "tips/eval/encoders.h"
#include "tips/eval/evaluator.h"

namespace tips::eval {

struct ProbeOptions {
  double weight_decay = 1e-5;  // on the standardised features' weights
  int64_t max_iterations = 500;
  double gradient_tolerance = 1e-6;  // stop when no gradient entry is larger
};

struct LinearProbe {
  torch::Tensor mean, inv_std;  // (D,) float64: the standardisation of the training features
  torch::Tensor weight;         // (C, D) float64, on standardised features
  torch::Tensor bias;           // (C,) float64
  double loss = 0;              // the fitted objective (mean soft cross-entropy + weight decay term)
  int64_t evaluations = 0;      // objective evaluations L-BFGS used (its iterations and line-search steps)
};

// features (M, D) and targets (M, C), rows of targets >= 0 summing to 1 (any float dtype). TORCH_CHECKs the shapes,
// finite features and M >= 2.
LinearProbe fit_linear_probe(const torch::Tensor& features, const torch::Tensor& targets, const ProbeOptions& options);

// The probe's objective at its weights on (features, targets): what fit_linear_probe minimised.
double probe_objective(const LinearProbe& probe, const torch::Tensor& features, const torch::Tensor& targets,
                       double weight_decay);

// patches (B, N, D), N = h * w row-major -> logits (B, C, h, w) float.
torch::Tensor probe_logits(const LinearProbe& probe, const torch::Tensor& patches, int64_t grid_h, int64_t grid_w);

// The whole evaluation: fits the probe on the first cfg.probe_images canvases of cfg.probe_manifest (readout
// cfg.probe_readout, eval resolution cfg.image_size) and scores cfg.seg_manifest's canvases (capped at
// cfg.max_images). Adds metrics probe/<name> for SegScorer's background-prompt figures (probe/obj_miou,
// probe/object_pixel_acc, probe/miou, ...), counts["probe_fit"] and seconds["probe"]; logs the fitted objective.
// Throws DataError for canvases without label maps, ConfigError when either manifest is empty.
void evaluate_linear_probe(Encoders& enc, const EvalConfig& cfg, int64_t object_classes, EvalResults& res);

}  // namespace tips::eval
