#include "tips/model/gelu.h"

#include "tips/kernels/gelu.h"

namespace tips::model {

torch::Tensor GeluImpl::forward(const torch::Tensor& x) { return kernels::gelu(x); }

}  // namespace tips::model
