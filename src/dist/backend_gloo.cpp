// The Gloo backend (CPU): compiled when gloo's headers are on LibTorch's include path (TIPS_HAVE_GLOO, decided by
// CMake: Debian's LibTorch ships them, pip's torch does not); otherwise make_gloo() throws a DistError saying so.
// USE_C10D_GLOO unlocks the header, see core/compat.h.
#if TIPS_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <cstdlib>

#include "process_group.h"

namespace tips::dist {

#if TIPS_HAVE_GLOO
c10::intrusive_ptr<compat::C10dBackend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, std::chrono::milliseconds timeout) {
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  // Same device choice as torch.distributed: GLOO_SOCKET_IFNAME pins the interface, else the address the
  // hostname resolves to (loopback when it does not resolve).
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, opts);
}
bool gloo_available() { return true; }
#else
c10::intrusive_ptr<compat::C10dBackend> make_gloo(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                 std::chrono::milliseconds) {
  throw DistError("dist.backend=gloo, but this build has no Gloo backend (gloo's headers were not found next to "
                  "LibTorch's at build time)",
                  "on CUDA use dist.backend=nccl (or auto); for CPU ranks build against a LibTorch that ships gloo's "
                  "headers (Debian's libtorch-dev does)");
}
bool gloo_available() { return false; }
#endif

}  // namespace tips::dist
