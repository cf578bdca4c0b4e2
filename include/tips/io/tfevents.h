// tips/io/tfevents.h - TensorBoard event files: `tensorboard --logdir runs/` shows every scalar a run logs.
// The file is TensorBoard's container: a sequence of records, each
//   uint64 length | uint32 masked CRC32C(length) | payload | uint32 masked CRC32C(payload)     (little-endian)
// whose payloads are `Event` messages (protobuf wire format, encoded with Debian's libprotobuf, which LibTorch
// already loads): field 1 wall_time (double), 2 step (int64), 3 file_version (string, first record only),
// 5 summary { 1 value { 1 tag (string), 2 simple_value (float) } }, 7 session_log { 1 status (enum, START = 1) }.
// Scalars only.
//
// Example:
//   tips::io::EventFileWriter tb(run_dir / "tb");          // tb/events.out.tfevents.<seconds>.<host>.<pid>
//   tb.scalar("loss/total", step, 4.2, wall_seconds());
//   tb.flush();
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace tips::io {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the record framing. No Debian package
// ships a C++ CRC-32C for bookworm (zlib's crc32 is the other polynomial), hence the 20 lines in tfevents.cpp.
uint32_t crc32c(const void* data, size_t size);

class EventFileWriter {
 public:
  // Creates `dir` and a new event file in it, starting with the file_version record. Throws DataError when the file
  // cannot be created.
  explicit EventFileWriter(const std::filesystem::path& dir);
  // One scalar summary; `tag` groups by its prefix before '/' in TensorBoard. Non-finite values are written as is.
  void scalar(const std::string& tag, int64_t step, double value, double wall_time);
  // A SessionLog START at `step`: TensorBoard then drops what earlier files of the same folder logged at steps
  // >= step (its purge of orphaned data after a restart), so a step trained again shows once.
  void session_start(int64_t step, double wall_time);
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace tips::io
