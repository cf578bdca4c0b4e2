// Private helper of src/kernels/*.cpp: a bf16 tensor's storage as the raw 16-bit patterns the *_rows.h loops take.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace tips::kernels::detail {

inline const uint16_t* bf16_data(const torch::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr()); }
inline uint16_t* mutable_bf16_data(const torch::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr()); }

}  // namespace tips::kernels::detail
