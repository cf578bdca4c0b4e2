// Field extraction shared by the manifest and tar sources (private to src/data).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "tips/data/manifest_source.h"

namespace tips::data::detail {

// Copies a JSON object's fields into `sample`: fields.label_field (integer or null) -> label, every other
// non-empty string except the image and mask keys -> captions. The image and mask values (strings) are
// returned through `image` / `mask` ("" when absent). Returns "" or what is wrong ("'label' must be ...").
std::string take_json_fields(const nlohmann::json& obj, const ManifestFields& fields, RawSample& sample,
                             std::string& image, std::string& mask);

// Parses a label written as text ("3", " 3 ", "" -> -1). Returns "" or what is wrong.
std::string parse_label_text(const std::string& text, int64_t& label);

// Reads a whole file. Returns "" or why not ("image file not found", "empty image file").
std::string read_file_bytes(const std::string& path, std::string& bytes);

}  // namespace tips::data::detail
