// tips/core/compat.h - the ONLY place that looks at TORCH_VERSION.
// LibTorch 1.13 (Debian, CPU) and 2.x (the GPU machine's PyTorch) differ in: the fused attention op,
// the autocast API, c10d class layout (ProcessGroup vs Backend) and the optimizers' state keys. Everything else calls
// these shims.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

#define TIPS_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace tips::compat {

// Version string of the LibTorch we were compiled against, e.g. "1.13.1".
inline std::string torch_version() { return TORCH_VERSION; }

// TF32 tensor cores for the fp32 matmuls and convolutions left under bf16 autocast (the loss math, the heads'
// weight-normalised last layer): ~8x the fp32 rate on H100 at a 10-bit mantissa. A no-op without CUDA. Both
// LibTorch lines spell it the same; 2.9+ also has per-backend fp32 precision knobs, which these calls set.
inline void allow_tf32(bool on) {
  at::globalContext().setAllowTF32CuBLAS(on);
  at::globalContext().setAllowTF32CuDNN(on);
}

// softmax(q k^T * scale + bias) v over the last two dims.
// q: (B, H, Nq, d), k/v: (B, H, Nk, d). key_padding_mask: undefined, or bool (B, Nk) with true = ignore.
// Returns (B, H, Nq, d). On 2.x this is the fused SDPA kernel (flash / mem-efficient on CUDA);
// on 1.13 explicit math in the input dtype (the softmax accumulates in float32 for bf16 inputs), where
// `scaled_softmax(scores, scale)`, if given, replaces ATen's softmax(scores * scale) over the last dim (model/
// passes the fused CPU kernel; core cannot depend on kernels/).
using ScaledSoftmaxFn = torch::Tensor (*)(const torch::Tensor& scores, double scale);
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& key_padding_mask = {},
                                                  ScaledSoftmaxFn scaled_softmax = nullptr) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
#if TIPS_TORCH_AT_LEAST(2, 0)
  (void)scaled_softmax;  // SDPA fuses the softmax itself
  c10::optional<torch::Tensor> attn_mask;
  if (key_padding_mask.defined()) {
    // SDPA takes "true = attend" for bool masks; broadcast over heads and queries.
    attn_mask = key_padding_mask.logical_not().view({q.size(0), 1, 1, k.size(2)});
  }
  return at::scaled_dot_product_attention(q, k, v, attn_mask, /*dropout_p=*/0.0, /*is_causal=*/false, scale);
#else
  // Plain bmm over (B*H) matrices: 1.13's 4-d matmul goes through expand and reshape of each operand. (baddbmm with
  // alpha = scale would save the multiply, but 1.13's small-matrix kernel reads its uninitialised output when
  // beta = 0 and returns NaN now and then.)
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), Nk = k.size(2), d = q.size(3);
  const auto q3 = q.reshape({B * H, Nq, d}), k3 = k.reshape({B * H, Nk, d}), v3 = v.reshape({B * H, Nk, d});
  auto scores = torch::bmm(q3, k3.transpose(1, 2)).view({B, H, Nq, Nk});
  if (key_padding_mask.defined()) {  // -inf stays -inf under the positive scale
    scores = scores.masked_fill(key_padding_mask.view({B, 1, 1, Nk}), -std::numeric_limits<float>::infinity());
  }
  // The softmax in the scores' dtype, as eager PyTorch runs it under CPU autocast: ATen's bf16 softmax accumulates
  // in float32, so its output equals a float32 softmax rounded to bf16 (all but about 6 elements in 10^6, one bf16
  // unit apart), without the two casts of the (B, H, Nq, Nk) scores; its backward reads the rounded probabilities.
  const auto probs = scaled_softmax ? scaled_softmax(scores, scale) : torch::softmax(scores * scale, /*dim=*/-1);
  return torch::bmm(probs.view({B * H, Nq, Nk}), v3).view({B, H, Nq, d});
#endif
}

// Autocast state of one device type (CPU or CUDA): activation checkpointing replays a forward under the same.
struct AutocastState {
  bool enabled = false;
  torch::ScalarType dtype = torch::kBFloat16;
};
inline AutocastState autocast_state(c10::DeviceType device) {
  TORCH_CHECK(device == c10::DeviceType::CPU || device == c10::DeviceType::CUDA,
              "autocast_state: CPU or CUDA only, got ", device);
#if TIPS_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == c10::DeviceType::CPU) return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

namespace detail {
inline void set_autocast(c10::DeviceType device, AutocastState s) {
#if TIPS_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, s.enabled);
  at::autocast::set_autocast_dtype(device, s.dtype);
#else
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(s.enabled);
    at::autocast::set_autocast_cpu_dtype(s.dtype);
  } else {
    at::autocast::set_enabled(s.enabled);
    at::autocast::set_autocast_gpu_dtype(s.dtype);
  }
#endif
}
}  // namespace detail

// RAII: bf16/fp16 autocast on `device` (CPU or CUDA) for the enclosing scope; a no-op when `enabled` is false.
// On the CPU, autocast runs matmuls, linear layers and convolutions in the lower precision (oneDNN's bf16
// kernels on AVX512-BF16 / AMX cores) and keeps the ops of its fp32 list in float32, as on CUDA.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, bool enabled, torch::ScalarType dtype) : device_(device), enabled_(enabled) {
    if (!enabled_) return;
    prev_ = autocast_state(device_);
    detail::set_autocast(device_, {true, dtype});
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    detail::set_autocast(device_, prev_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  AutocastState prev_;
};

// The key of a parameter's entry in a torch::optim optimizer's state map (Optimizer::state()). 1.13 keys it by the
// parameter's TensorImpl pointer printed to a string (c10::guts::to_string, an ostream of the pointer); later
// releases by the pointer itself. Chosen by the map's key type rather than a version number, since the key follows
// the map. Used where tips creates or reads that state itself (train/optim.cpp's fused AdamW step).
template <typename StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap& /*state*/, const torch::Tensor& param) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

}  // namespace tips::compat

// ---- c10d (distributed; used only by src/dist/) -------------------------------------------------------
// 1.13: ProcessGroupGloo/NCCL derive from c10d::ProcessGroup. 2.x: they derive from c10d::Backend, and
// ProcessGroup became a dispatching wrapper around backends. Both bases expose the same collective
// signatures (allreduce/broadcast/allgather/barrier -> c10::intrusive_ptr<c10d::Work>), so src/dist holds
// and calls the concrete backend through this alias; include TIPS_C10D_BASE_HEADER for its definition.
// TCPStore(host, TCPStoreOptions), ProcessGroupGloo::Options::create(timeout), createDefaultDevice() and
// Work::wait(timeout) are spelled the same in both (2.x only adds defaulted arguments).
// ProcessGroupGloo.hpp / ProcessGroupNCCL.hpp are guarded by USE_C10D_GLOO / USE_C10D_NCCL, which
// LibTorch's CMake config does not define: src/dist defines them right before including those headers.
namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace tips::compat {
#if TIPS_TORCH_AT_LEAST(2, 0)
using C10dBackend = ::c10d::Backend;
#define TIPS_C10D_BASE_HEADER <torch/csrc/distributed/c10d/Backend.hpp>
#else
using C10dBackend = ::c10d::ProcessGroup;
#define TIPS_C10D_BASE_HEADER <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
}  // namespace tips::compat
