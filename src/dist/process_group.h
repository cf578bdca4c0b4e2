// Private to src/dist: the c10d objects behind tips::dist::ProcessGroup, the backend factories and the
// one place where a c10d Work is waited on (with the timeout, converting failures into DistError).
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "tips/core/compat.h"
#include "tips/core/error.h"
#include "tips/dist/context.h"
#include TIPS_C10D_BASE_HEADER

namespace tips::dist {

class ProcessGroup {
 public:
  c10::intrusive_ptr<c10d::Store> store;               // TCPStore (rank 0 serves it)
  c10::intrusive_ptr<compat::C10dBackend> backend;     // ProcessGroupGloo or ProcessGroupNCCL
};

// Backend factories; `timeout` bounds every operation of the group. Throw DistError when unavailable.
c10::intrusive_ptr<compat::C10dBackend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, std::chrono::milliseconds timeout);
c10::intrusive_ptr<compat::C10dBackend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, std::chrono::milliseconds timeout);
// Whether make_nccl() / make_gloo() were compiled in (TIPS_HAVE_NCCL: CUDA and <nccl.h>; TIPS_HAVE_GLOO: gloo's
// headers next to LibTorch's).
bool nccl_available();
bool gloo_available();

// Launches `launch` (a call on dist.group->backend) and returns its Work; a throw becomes DistError.
c10::intrusive_ptr<c10d::Work> launch(const DistContext& dist, const char* name,
                                      const std::function<c10::intrusive_ptr<c10d::Work>()>& launch);

// Waits at most dist.timeout_s for `work`. A timeout, a peer that closed its connection or any backend
// failure becomes DistError("rank r: collective <name> timed out after T s; another rank probably died ...").
void wait(const DistContext& dist, const char* name, const c10::intrusive_ptr<c10d::Work>& work);

// The DistError for a failed collective / rendezvous step; `cause` is the backend's message.
DistError collective_error(const DistContext& dist, const std::string& name, double elapsed_s,
                           const std::string& cause);

std::chrono::milliseconds to_ms(double seconds);

}  // namespace tips::dist
