// Fashion-MNIST idx reader (gzip via zlib, or the plain idx file).
#include <zlib.h>

#include <filesystem>

#include "tips/core/error.h"
#include "tips/data/fashion_mosaic.h"

namespace tips::data {

namespace {

namespace fs = std::filesystem;

std::string read_maybe_gz(const std::string& dir, const std::string& name) {
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path plain = fs::path(dir) / name;
  const fs::path path = fs::exists(gz) ? gz : plain;
  if (!fs::exists(path))
    throw DataError("Fashion-MNIST file not found: " + gz.string() + " (nor " + plain.string() + ")",
                    "pass --mnist-dir with the four *-ubyte.gz files of Fashion-MNIST");
  // gzopen reads plain files transparently, so one code path serves both.
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError("cannot open " + path.string(), "check file permissions");
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  int errnum = 0;
  const char* msg = gzerror(f, &errnum);
  const std::string err = (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) ? msg : "";
  gzclose(f);
  if (!err.empty()) throw DataError("cannot decompress " + path.string() + ": " + err, "re-download the file");
  return out;
}

uint32_t be32(const std::string& s, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void check_header(const std::string& data, const std::string& name, uint32_t magic, size_t header_bytes) {
  if (data.size() < header_bytes || be32(data, 0) != magic)
    throw DataError(name + ": not an idx file (expected magic " + std::to_string(magic) + ", got " +
                        (data.size() >= 4 ? std::to_string(be32(data, 0)) : std::string("a short file")) + ")",
                    "the file must be the original Fashion-MNIST idx file");
}

}  // namespace

FashionMnist load_fashion_mnist(const std::string& dir, const std::string& prefix) {
  const std::string img_name = prefix + "-images-idx3-ubyte";
  const std::string lbl_name = prefix + "-labels-idx1-ubyte";
  const std::string images = read_maybe_gz(dir, img_name);
  const std::string labels = read_maybe_gz(dir, lbl_name);
  check_header(images, img_name, 0x00000803u, 16);
  check_header(labels, lbl_name, 0x00000801u, 8);
  FashionMnist out;
  const int64_t n = be32(images, 4);
  out.rows = be32(images, 8);
  out.cols = be32(images, 12);
  if (static_cast<int64_t>(be32(labels, 4)) != n)
    throw DataError(prefix + ": " + std::to_string(n) + " images but " + std::to_string(be32(labels, 4)) +
                        " labels", "images and labels must come from the same split");
  const size_t pixel_bytes = static_cast<size_t>(n * out.rows * out.cols);
  if (images.size() < 16 + pixel_bytes || labels.size() < 8 + static_cast<size_t>(n))
    throw DataError(prefix + ": idx file shorter than its header says (truncated download?)",
                    "re-download the file");
  out.pixels.assign(images.begin() + 16, images.begin() + 16 + static_cast<std::ptrdiff_t>(pixel_bytes));
  out.labels.assign(labels.begin() + 8, labels.begin() + 8 + n);
  for (int64_t i = 0; i < n; ++i)
    if (out.labels[i] >= kFashionNumClasses)
      throw DataError(prefix + ": label " + std::to_string(out.labels[i]) + " at index " + std::to_string(i) +
                          " is not a class id 0..9", "not a Fashion-MNIST label file");
  return out;
}

}  // namespace tips::data
