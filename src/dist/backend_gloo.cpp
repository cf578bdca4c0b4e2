// The Gloo backend (CPU; always built). USE_C10D_GLOO unlocks the header, see core/compat.h.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>

#include "process_group.h"

namespace tips::dist {

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

}  // namespace tips::dist
