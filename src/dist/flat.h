// Private to src/dist: copy a group of tensors into one contiguous 1-D buffer and back (coalesced collectives).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace tips::dist {

// Total number of elements of ts[i] for i in idx.
int64_t numel_of(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx);

// ts[idx[0]], ts[idx[1]], ... flattened and concatenated into `flat` (1-D, same dtype/device, numel_of).
void pack(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx, torch::Tensor& flat);
torch::Tensor pack(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx);

// The inverse: copies consecutive slices of `flat` back into ts[idx[k]] (in place, keeps their storage).
void unpack(const torch::Tensor& flat, std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx);

}  // namespace tips::dist
