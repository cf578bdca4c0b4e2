// The NCCL backend: compiled only when LibTorch has CUDA and CMake found <nccl.h> (TIPS_HAVE_NCCL; a CUDA build
// without it stops at configure time unless TIPS_ALLOW_NO_NCCL); otherwise make_nccl() throws a DistError saying
// so. USE_C10D_NCCL unlocks the header (core/compat.h).
#include "process_group.h"

#if TIPS_HAVE_CUDA && TIPS_HAVE_NCCL
#define TIPS_DIST_NCCL 1
#endif

#ifdef TIPS_DIST_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace tips::dist {

c10::intrusive_ptr<compat::C10dBackend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, std::chrono::milliseconds timeout) {
#ifdef TIPS_DIST_NCCL
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;  // NCCL's own watchdog enforces it: the host never blocks on a Work (wait.cpp)
  auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, opts);
#if TIPS_TORCH_AT_LEAST(2, 3)
  // Bound to this rank's device (init_device() made it current), as init_process_group(device_id=...) does:
  // communicators are created eagerly on it instead of guessing the device at the first collective.
  const c10::Device device = c10::impl::getDeviceGuardImpl(c10::kCUDA)->getDevice();
  group->setBoundDeviceId(device);
  group->eagerConnectSingleDevice(device);
#endif
  return group;
#else
  throw DistError("dist.backend=nccl, but this build has no NCCL (TIPS_HAVE_CUDA=" +
                      std::to_string(TIPS_HAVE_CUDA) + ", <nccl.h> not found at build time)",
                  "use dist.backend=gloo, or rebuild against a CUDA LibTorch with nccl.h on the include path "
                  "(pip's nvidia/nccl/include)");
#endif
}

bool nccl_available() {
#ifdef TIPS_DIST_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace tips::dist
