#include "tips/io/tfevents.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "tips/core/error.h"

namespace tips::io {

namespace {

namespace pb = google::protobuf::io;

// Wire types of the protobuf encoding.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;
uint32_t tag(uint32_t field, uint32_t wire_type) { return (field << 3) | wire_type; }

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

// TFRecord's "masked" CRC: rotated and offset, so that a CRC of data containing CRCs stays well distributed.
uint32_t masked_crc(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

void put_le32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// An Event with wall_time and step, then `rest` (already-encoded fields).
std::string encode_event(double wall_time, int64_t step, const std::string& rest) {
  std::string out;
  {
    pb::StringOutputStream raw(&out);
    pb::CodedOutputStream coded(&raw);
    coded.WriteTag(tag(1, kFixed64));
    uint64_t bits;
    static_assert(sizeof bits == sizeof wall_time);
    std::memcpy(&bits, &wall_time, sizeof bits);
    coded.WriteLittleEndian64(bits);
    coded.WriteTag(tag(2, kVarint));
    coded.WriteVarint64(static_cast<uint64_t>(step));
  }
  return out + rest;
}

// A length-delimited field.
std::string bytes_field(uint32_t field, const std::string& payload) {
  std::string out;
  {
    pb::StringOutputStream raw(&out);
    pb::CodedOutputStream coded(&raw);
    coded.WriteTag(tag(field, kBytes));
    coded.WriteVarint32(static_cast<uint32_t>(payload.size()));
    coded.WriteRaw(payload.data(), static_cast<int>(payload.size()));
  }
  return out;
}

// Summary.Value { tag = 1, simple_value = 2 (float) }.
std::string scalar_value(const std::string& name, float value) {
  std::string fields = bytes_field(1, name);
  {
    pb::StringOutputStream raw(&fields);
    pb::CodedOutputStream coded(&raw);
    coded.WriteTag(tag(2, kFixed32));
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    coded.WriteLittleEndian32(bits);
  }
  return fields;
}

std::string host_name() {
  char buf[256] = {0};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("localhost");
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

EventFileWriter::EventFileWriter(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const double seconds = std::chrono::duration<double>(now).count();
  const std::string name = "events.out.tfevents." + std::to_string(static_cast<int64_t>(seconds)) + "." +
                           host_name() + "." + std::to_string(::getpid());
  path_ = dir / name;
  // A second writer of this process within the same second gets a suffix that sorts after the first file.
  for (int n = 1; std::filesystem::exists(path_); ++n) path_ = dir / (name + "." + std::to_string(n));
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_)
    throw DataError("cannot create the TensorBoard event file " + path_.string(),
                    "check that the run directory is writable, or set train.tensorboard=false");
  write_record(encode_event(seconds, 0, bytes_field(3, "brain.Event:2")));
  flush();
}

void EventFileWriter::scalar(const std::string& name, int64_t step, double value, double wall_time) {
  const std::string summary = bytes_field(1, scalar_value(name, static_cast<float>(value)));
  write_record(encode_event(wall_time, step, bytes_field(5, summary)));
}

void EventFileWriter::session_start(int64_t step, double wall_time) {
  // SessionLog { status = 1: START = 1 } as the Event's field 7.
  const std::string start{static_cast<char>(tag(1, kVarint)), 1};
  write_record(encode_event(wall_time, step, bytes_field(7, start)));
}

void EventFileWriter::flush() { out_.flush(); }

void EventFileWriter::write_record(const std::string& payload) {
  std::string header;
  const uint64_t n = payload.size();
  for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  std::string frame = header;
  put_le32(frame, masked_crc(header.data(), header.size()));
  frame += payload;
  put_le32(frame, masked_crc(payload.data(), payload.size()));
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
}

}  // namespace tips::io
