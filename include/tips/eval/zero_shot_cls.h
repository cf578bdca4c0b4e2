// tips/eval/zero_shot_cls.h - zero-shot classification: cosine between an image embedding (a CLS token) and
// the class prompt-ensemble embeddings (prompts.h), argmax; reported as top-k accuracy.
// The learned temperature only scales probabilities, so it does not change the ranking and is not used.
//
// Legend: B images, C classes, D width.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/eval/config.h"
#include "tips/model/vit.h"

namespace tips::eval {

// The global image embedding selected by `token` (cls1 or cls2), L2-normalised: (B, D) float.
torch::Tensor image_embedding(const model::VisionOutput& out, ClsToken token);

// Cosine similarities: images (B, D), classes (C, D), any norm -> (B, C) float.
torch::Tensor cosine_scores(const torch::Tensor& images, const torch::Tensor& classes);

// Fraction of rows whose label is among the k highest scores (k clamped to C; ties broken by topk's order).
// scores (B, C), labels (B) int64 in [0, C). Returns a value in [0, 1] (0 when B == 0).
double topk_accuracy(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);

}  // namespace tips::eval
