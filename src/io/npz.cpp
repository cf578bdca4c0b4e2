#include "tips/io/npz.h"

#include <zip.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "tips/core/error.h"
#include "zip_error.h"
#include "tips/io/atomic_file.h"

namespace tips::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// Fixed entry time (1980-01-01, the zip epoch): the same arrays always give the same file bytes.
constexpr time_t kEntryMtime = 315532800;

struct DType {
  const char* code;  // descr without the byte-order character
  torch::ScalarType scalar;
  int64_t itemsize;
};
const DType kDTypes[] = {
    {"f4", torch::kFloat, 4}, {"f8", torch::kDouble, 8}, {"i8", torch::kLong, 8},
    {"i4", torch::kInt, 4},   {"u1", torch::kByte, 1},   {"b1", torch::kBool, 1},
};

const DType& dtype_of(torch::ScalarType s) {
  for (const DType& d : kDTypes)
    if (d.scalar == s) return d;
  TORCH_CHECK(false, "write_npz: unsupported dtype ", s, " (supported: float32, float64, int64, int32, uint8, bool)");
}

// ---- the .npy header: a Python dict literal with 'descr', 'fortran_order' and 'shape' ----

struct Header {
  std::string descr;
  bool descr_is_list = false;  // structured dtype
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  Header parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      skip_ws();
      if (key == "descr") {
        have_descr = true;
        if (peek() == '[') {
          h.descr_is_list = true;
          skip_bracketed('[', ']');
        } else {
          h.descr = parse_string();
        }
      } else if (key == "fortran_order") {
        have_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        have_shape = true;
        h.shape = parse_int_tuple();
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') ++pos_;
    }
    if (!have_descr || !have_order || !have_shape) fail("missing 'descr', 'fortran_order' or 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw CheckpointError(where_ + ": malformed .npy header (" + why + "): " + s_,
                          "the file is corrupt or not written by numpy.save/savez");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string at offset " + std::to_string(pos_));
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    fail("expected True or False at offset " + std::to_string(pos_));
  }
  std::vector<int64_t> parse_int_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    while (true) {
      skip_ws();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension at offset " + std::to_string(pos_));
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (int64_t{1} << 50)) fail("dimension too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;  // Python 2 long suffix
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return dims;
  }
  void skip_bracketed(char open, char close) {
    int depth = 0;
    do {
      if (pos_ >= s_.size()) fail("unbalanced brackets");
      if (s_[pos_] == open) ++depth;
      if (s_[pos_] == close) --depth;
      ++pos_;
    } while (depth > 0);
  }

  const std::string& s_;
  const std::string& where_;
  size_t pos_ = 0;
};

const DType& resolve_dtype(const Header& h, const std::string& where) {
  const std::string hint = "re-save it as a plain numeric C-order array: np.savez(path, **{k: np.ascontiguousarray(v, "
                           "dtype=np.float32)})";
  if (h.descr_is_list) throw CheckpointError(where + ": structured dtypes are not supported", hint);
  if (h.fortran_order) throw CheckpointError(where + ": Fortran-order arrays are not supported", hint);
  if (h.descr.size() < 2) throw CheckpointError(where + ": unknown dtype '" + h.descr + "'", hint);
  const char order = h.descr[0];
  const std::string code = h.descr.substr(1);
  if (code == "O")
    throw CheckpointError(where + ": object (pickled) arrays are not supported (dtype '" + h.descr + "')", hint);
  for (const DType& d : kDTypes) {
    if (code != d.code) continue;
    if (d.itemsize > 1 && order == '>')
      throw CheckpointError(where + ": big-endian arrays are not supported (dtype '" + h.descr + "')", hint);
    if (d.itemsize > 1 && order != '<' && order != '=')
      throw CheckpointError(where + ": unknown byte order in dtype '" + h.descr + "'", hint);
    return d;
  }
  throw CheckpointError(where + ": unsupported dtype '" + h.descr +
                            "' (supported: <f4, <f8, <i8, <i4, |u1, |b1)", hint);
}

std::string header_text(const DType& d, c10::IntArrayRef sizes) {
  std::string shape = "(";
  for (size_t i = 0; i < sizes.size(); ++i) shape += (i ? ", " : "") + std::to_string(sizes[i]);
  if (sizes.size() == 1) shape += ",";
  shape += ")";
  return std::string("{'descr': '") + (d.itemsize == 1 ? "|" : "<") + d.code +
         "', 'fortran_order': False, 'shape': " + shape + ", }";
}

// Magic, version and padded header of one array (numpy pads so the data starts at a multiple of 64).
std::string npy_preamble(const DType& d, c10::IntArrayRef sizes) {
  std::string dict = header_text(d, sizes);
  const bool v1 = dict.size() + 11 + 64 <= 65535;
  const size_t prefix = kMagicLen + 2 + (v1 ? 2 : 4);
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back(static_cast<char>(v1 ? 1 : 2));
  out.push_back(0);
  const uint32_t len = static_cast<uint32_t>(dict.size());
  for (size_t i = 0; i < (v1 ? 2u : 4u); ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  return out + dict;
}

// ---- libzip glue ----

using detail::zip_error_text;

// A zip source that streams preamble + tensor bytes, so writing never holds a second copy of the weights.
struct ArraySource {
  std::string preamble;
  torch::Tensor data;  // CPU, contiguous
  uint64_t offset = 0;
  uint64_t size() const { return preamble.size() + data.nbytes(); }
};

zip_int64_t array_source_cb(void* user, void* out, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto* src = static_cast<ArraySource*>(user);
  switch (cmd) {
    case ZIP_SOURCE_OPEN:
      src->offset = 0;
      return 0;
    case ZIP_SOURCE_READ: {
      const uint64_t n = std::min<uint64_t>(len, src->size() - src->offset);
      auto* dst = static_cast<char*>(out);
      for (uint64_t done = 0; done < n;) {
        const uint64_t at = src->offset + done;
        const uint64_t pre = src->preamble.size();
        const char* from = at < pre ? src->preamble.data() + at
                                    : static_cast<const char*>(src->data.data_ptr()) + (at - pre);
        const uint64_t chunk = std::min(n - done, at < pre ? pre - at : src->size() - at);
        std::memcpy(dst + done, from, chunk);
        done += chunk;
      }
      src->offset += n;
      return static_cast<zip_int64_t>(n);
    }
    case ZIP_SOURCE_CLOSE:
      return 0;
    case ZIP_SOURCE_STAT: {
      auto* st = static_cast<zip_stat_t*>(out);
      zip_stat_init(st);
      st->size = src->size();
      st->mtime = kEntryMtime;
      st->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
      return sizeof(zip_stat_t);
    }
    case ZIP_SOURCE_ERROR: {
      auto* e = static_cast<int*>(out);
      e[0] = ZIP_ER_INTERNAL;
      e[1] = 0;
      return 2 * sizeof(int);
    }
    case ZIP_SOURCE_FREE:
      delete src;
      return 0;
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                            ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    default:
      return -1;
  }
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};

void write_zip(const std::string& tmp, const std::string& path, const NpzArrays& arrays) {
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> za(zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (!za) throw CheckpointError("cannot create '" + path + "': " + zip_error_text(code));
  for (const auto& [name, value] : arrays.items()) {
    auto* state = new ArraySource;
    state->data = value.detach().to(torch::kCPU).contiguous();
    state->preamble = npy_preamble(dtype_of(state->data.scalar_type()), state->data.sizes());
    zip_source_t* src = zip_source_function(za.get(), array_source_cb, state);
    if (!src) {
      delete state;
      throw CheckpointError("cannot write '" + path + "': " + zip_strerror(za.get()));
    }
    const std::string entry = name + ".npy";
    const zip_int64_t idx = zip_file_add(za.get(), entry.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);  // frees `state` through ZIP_SOURCE_FREE
      throw CheckpointError("cannot add array '" + name + "' to '" + path + "': " + zip_strerror(za.get()));
    }
    if (zip_set_file_compression(za.get(), static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0) != 0)
      throw CheckpointError("cannot write '" + path + "': " + zip_strerror(za.get()));
  }
  if (zip_close(za.get()) != 0)
    throw CheckpointError("cannot write '" + path + "': " + zip_strerror(za.get()),
                          "check free disk space and permissions of the output directory");
  za.release();  // zip_close succeeded and freed the archive
}

}  // namespace

void NpzArrays::add(const std::string& name, torch::Tensor value) {
  if (index_.count(name)) throw std::invalid_argument("NpzArrays::add: duplicate array name '" + name + "'");
  index_.emplace(name, items_.size());
  items_.emplace_back(name, std::move(value));
}

const torch::Tensor& NpzArrays::at(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("NpzArrays::at: no array named '" + name + "'");
  return items_[it->second].second;
}

std::string encode_npy(const torch::Tensor& value) {
  const torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
  std::string out = npy_preamble(dtype_of(t.scalar_type()), t.sizes());
  if (t.nbytes()) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

torch::Tensor decode_npy(const std::string& bytes, const std::string& where) {
  const std::string corrupt_hint = "the file is truncated or corrupt: export it again";
  if (bytes.size() < kMagicLen + 4 || bytes.compare(0, kMagicLen, kMagic, kMagicLen) != 0)
    throw CheckpointError(where + ": not a .npy array (bad magic)", corrupt_hint);
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  const uint32_t major = byte(6);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = byte(8) | (byte(9) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw CheckpointError(where + ": truncated .npy header", corrupt_hint);
    header_len = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    header_start = 12;
  } else {
    throw CheckpointError(where + ": unsupported .npy format version " + std::to_string(major), corrupt_hint);
  }
  if (bytes.size() < header_start + header_len) throw CheckpointError(where + ": truncated .npy header", corrupt_hint);
  const Header h = HeaderParser(bytes.substr(header_start, header_len), where).parse();
  const DType& d = resolve_dtype(h, where);

  int64_t numel = 1;
  for (const int64_t s : h.shape) {
    if (s != 0 && numel > (int64_t{1} << 50) / s) throw CheckpointError(where + ": shape too large", corrupt_hint);
    numel *= s;
  }
  const size_t data_start = header_start + header_len;
  const uint64_t expected = static_cast<uint64_t>(numel) * d.itemsize;
  if (bytes.size() - data_start != expected)
    throw CheckpointError(where + ": data holds " + std::to_string(bytes.size() - data_start) + " bytes, shape " +
                              c10::str(c10::IntArrayRef(h.shape)) + " of " + h.descr + " needs " +
                              std::to_string(expected),
                          corrupt_hint);
  // bool arrays go through uint8 so that any non-zero byte reads as true.
  const auto storage = d.scalar == torch::kBool ? torch::kByte : d.scalar;
  torch::Tensor t = torch::empty(h.shape, torch::TensorOptions().dtype(storage));
  if (expected) std::memcpy(t.data_ptr(), bytes.data() + data_start, expected);
  return d.scalar == torch::kBool ? t.ne(0) : t;
}

NpzArrays read_npz(const std::string& path) {
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> za(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!za) {
    if (code == ZIP_ER_NOENT)
      throw CheckpointError("weight file '" + path + "' does not exist", "check the path (and --weights-dir)");
    throw CheckpointError("cannot read '" + path + "' as .npz: " + zip_error_text(code),
                          "the file is truncated or not a zip archive (numpy.savez output)");
  }
  NpzArrays out;
  const zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0)
      throw CheckpointError("cannot read entry " + std::to_string(i) + " of '" + path + "': " + zip_strerror(za.get()));
    std::string name = st.name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    const std::string where = path + ":" + name;
    zip_file_t* f = zip_fopen_index(za.get(), static_cast<zip_uint64_t>(i), 0);
    if (!f) throw CheckpointError(where + ": cannot open: " + zip_strerror(za.get()));
    std::string bytes(st.size, '\0');
    uint64_t got = 0;
    zip_int64_t r = 0;
    while (got < st.size && (r = zip_fread(f, &bytes[got], st.size - got)) > 0) got += static_cast<uint64_t>(r);
    // One more read reaches end-of-entry, where libzip verifies the CRC.
    char extra = 0;
    if (r >= 0) r = zip_fread(f, &extra, 1);
    const std::string ferr = r < 0 ? zip_file_strerror(f) : "";
    zip_fclose(f);
    if (r < 0) throw CheckpointError(where + ": read failed: " + ferr, "the file is corrupt: export it again");
    if (got != st.size || r != 0)
      throw CheckpointError(where + ": entry size mismatch (" + std::to_string(got) + " of " +
                                std::to_string(st.size) + " bytes)",
                            "the file is corrupt: export it again");
    if (out.contains(name)) throw CheckpointError(where + ": array stored twice");
    out.add(name, decode_npy(bytes, where));
  }
  return out;
}

void write_npz(const std::string& path, const NpzArrays& arrays) {
  atomic_write(path, [&](const std::string& tmp) { write_zip(tmp, path, arrays); });
}

}  // namespace tips::io
