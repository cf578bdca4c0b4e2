// tips/io/atomic_file.h - publish a file atomically: write a temporary beside it, fsync, rename, fsync the
// directory. A reader (or a job preempted mid-write) sees either the old file or the complete new one.
//
// Example:
//   atomic_write("out/image_encoder.npz", [&](const std::string& tmp) { write_something(tmp); });
#pragma once
#include <functional>
#include <string>

namespace tips::io {

// Calls write(tmp) with a fresh temporary path in the directory of `path`, then fsyncs the temporary,
// renames it over `path` and fsyncs the directory. If `write` throws, the temporary is removed and the
// exception propagates. Throws CheckpointError (with errno text) when the directory is missing or the
// fsync/rename fails.
void atomic_write(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

}  // namespace tips::io
