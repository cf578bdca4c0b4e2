#include "tips/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tips/core/error.h"

namespace tips::io {
namespace {

namespace fs = std::filesystem;

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw CheckpointError("cannot open '" + path + "' to fsync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems (e.g. certain network mounts) refuse fsync on directories; the rename still happened.
  if (rc != 0 && !(directory && (err == EINVAL || err == ENOTSUP)))
    throw CheckpointError("fsync of '" + path + "' failed: " + std::strerror(err));
}

}  // namespace

void atomic_write(const std::string& path, const std::function<void(const std::string& tmp_path)>& write) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw CheckpointError("cannot write '" + path + "': directory '" + dir.string() + "' does not exist",
                          "create it first (mkdir -p " + dir.string() + ")");
  // pid + counter: two threads or processes writing the same target never share a temporary.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    write(tmp);
    fsync_path(tmp, /*directory=*/false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw CheckpointError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fsync_path(dir.string(), /*directory=*/true);
}

}  // namespace tips::io
