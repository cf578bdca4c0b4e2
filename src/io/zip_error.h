// src/io/zip_error.h (private) - libzip's message for an error code, shared by the .npz reader/writer and the
// checkpoint verifier.
#pragma once
#include <zip.h>

#include <string>

namespace tips::io::detail {

inline std::string zip_error_text(int code) {
  zip_error_t err;
  zip_error_init_with_code(&err, code);
  std::string s = zip_error_strerror(&err);
  zip_error_fini(&err);
  return s;
}

}  // namespace tips::io::detail
