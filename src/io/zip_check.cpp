#include "tips/io/zip_check.h"

#include <zip.h>

#include <memory>
#include <vector>

#include "tips/core/error.h"
#include "zip_error.h"

namespace tips::io {

namespace {

struct ArchiveCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct MemberCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

}  // namespace

void check_zip_crcs(const std::string& path) {
  const char* hint = "the file is corrupt (bit flips, a partial copy): use an older checkpoint; --resume auto "
                     "skips corrupt ones";
  int code = 0;
  std::unique_ptr<zip_t, ArchiveCloser> za(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!za) throw CheckpointError(path + ": not a readable archive (" + detail::zip_error_text(code) + ")", hint);
  std::vector<char> buf(1 << 20);
  const zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(za.get(), static_cast<zip_uint64_t>(i), 0);
    const std::string member = name ? name : "#" + std::to_string(i);
    std::unique_ptr<zip_file_t, MemberCloser> f(zip_fopen_index(za.get(), static_cast<zip_uint64_t>(i), 0));
    if (!f) throw CheckpointError(path + ": member '" + member + "' does not open: " + zip_strerror(za.get()), hint);
    zip_int64_t got = 0;
    while ((got = zip_fread(f.get(), buf.data(), buf.size())) > 0) {
    }
    // libzip compares the CRC-32 once the member is read to its end; a mismatch makes that last read fail.
    if (got < 0)
      throw CheckpointError(path + ": member '" + member + "' is corrupt (" + zip_file_strerror(f.get()) + ")", hint);
  }
}

}  // namespace tips::io
