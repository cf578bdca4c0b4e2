#include "tips/data/sample.h"

namespace tips::data {

Batch to_device(const Batch& batch, const torch::Device& device) {
  Batch b = batch;
  const bool non_blocking = device.is_cuda();
  b.global_crops = b.global_crops.to(device, non_blocking);
  if (b.local_crops.defined()) b.local_crops = b.local_crops.to(device, non_blocking);
  b.masks = b.masks.to(device, non_blocking);
  b.tokens1 = b.tokens1.to(device, non_blocking);
  b.tokens2 = b.tokens2.to(device, non_blocking);
  return b;
}

}  // namespace tips::data
