// src/model/init_impl.h - private: parameter initialisers that draw from an explicit CPU generator.
// Values are drawn on the CPU in float32 and copied into the parameter, so the result does not depend on
// the parameter's device or dtype.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include "tips/model/linear.h"

namespace tips::model::init {

// Truncated normal N(0, std) cut at [-2, 2] (absolute, as timm / DINOv2 trunc_normal_), inverse-CDF method.
void trunc_normal(torch::Tensor& param, double std, at::Generator& gen);
// N(0, std).
void normal(torch::Tensor& param, double std, at::Generator& gen);
// U(-bound, bound).
void uniform(torch::Tensor& param, double bound, at::Generator& gen);
// A Linear: trunc_normal(std) weight, zero bias.
void linear(LinearImpl& layer, double std, at::Generator& gen);

}  // namespace tips::model::init
