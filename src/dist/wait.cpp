// Work waits with the configured timeout; every backend failure becomes a DistError that says which rank,
// which collective, how long, and what to look at.
#include <c10/util/Exception.h>

#include <string>

#include "process_group.h"

namespace tips::dist {
namespace {

// c10::Error::what() carries a C++ backtrace on 1.13; keep the message only, first line.
std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", s);
  return buf;
}

template <class F>
auto converting(const DistContext& dist, const char* name, const F& f) -> decltype(f()) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  try {
    return f();
  } catch (const tips::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw collective_error(dist, name, elapsed(), first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw collective_error(dist, name, elapsed(), first_line(e.what()));
  }
}

}  // namespace

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

DistError collective_error(const DistContext& dist, const std::string& name, double elapsed_s,
                           const std::string& cause) {
  const bool timed_out = elapsed_s >= 0.95 * dist.timeout_s || cause.find("imed out") != std::string::npos ||
                         cause.find("imeout") != std::string::npos;
  const std::string what = "rank " + std::to_string(dist.rank) + ": collective " + name +
                           (timed_out ? " timed out after " + fmt_seconds(dist.timeout_s) + " s"
                                      : " failed after " + fmt_seconds(elapsed_s) + " s") +
                           "; another rank probably died or is stuck (" + cause + ")";
  const std::string hint = "look for the first error in the other ranks' output; every rank must call the same "
                           "collectives in the same order; if a rank is legitimately slow (checkpoint write, "
                           "eval) raise dist.timeout_s (now " + fmt_seconds(dist.timeout_s) + " s)";
  return DistError(what, hint);
}

c10::intrusive_ptr<c10d::Work> launch(const DistContext& dist, const char* name,
                                      const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  return converting(dist, name, start);
}

void wait(const DistContext& dist, const char* name, const c10::intrusive_ptr<c10d::Work>& work) {
  converting(dist, name, [&] {
    // NCCL: wait() without a timeout only makes the current stream wait for the collective's stream; with one
    // it blocks the host until the kernel ends. The group's own timeout (make_nccl) and its watchdog catch a
    // dead rank instead. Gloo runs on the host anyway, so its wait keeps the explicit bound.
    if (dist.backend == Backend::kNccl) {
      work->wait();
      return;
    }
    if (!work->wait(to_ms(dist.timeout_s))) {
      throw std::runtime_error("the operation was aborted");
    }
  });
}

}  // namespace tips::dist
