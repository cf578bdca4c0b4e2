#include "tips/model/layer_scale.h"

namespace tips::model {

LayerScaleImpl::LayerScaleImpl(int64_t dim, double init_value) : dim_(dim), init_value_(init_value) { reset(); }

void LayerScaleImpl::reset() { gamma = register_parameter("gamma", torch::full({dim_}, init_value_)); }

torch::Tensor LayerScaleImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.size(-1) == dim_, "LayerScale: last dim must be ", dim_, ", got ", x.sizes());
  return x * gamma;
}

}  // namespace tips::model
