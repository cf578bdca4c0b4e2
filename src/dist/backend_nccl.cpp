// The NCCL backend: compiled only when LibTorch has CUDA (TIPS_HAVE_CUDA=1) and <nccl.h> is on the include
// path; otherwise make_nccl() throws a DistError saying so. USE_C10D_NCCL unlocks the header (core/compat.h).
#include "process_group.h"

#if TIPS_HAVE_CUDA && defined(__has_include)
#if __has_include(<nccl.h>)
#define TIPS_DIST_NCCL 1
#endif
#endif

#ifdef TIPS_DIST_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace tips::dist {

c10::intrusive_ptr<compat::C10dBackend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, std::chrono::milliseconds timeout) {
#ifdef TIPS_DIST_NCCL
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, opts);
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
