#include "record_fields.h"

#include <fstream>

namespace tips::data::detail {

std::string take_json_fields(const nlohmann::json& obj, const ManifestFields& fields, RawSample& sample,
                             std::string& image, std::string& mask) {
  if (!obj.is_object()) return std::string("expected a JSON object, got ") + obj.type_name();
  image.clear();
  mask.clear();
  for (const auto& [key, value] : obj.items()) {
    if (key == fields.label_field) {
      if (value.is_null()) continue;
      if (!value.is_number_integer())
        return "'" + key + "' must be an integer class id, got " + value.type_name() + " " + value.dump();
      sample.label = value.get<int64_t>();
    } else if (key == fields.image_field || key == fields.mask_field) {
      if (!value.is_string()) return "'" + key + "' must be a path string, got " + value.type_name();
      (key == fields.image_field ? image : mask) = value.get<std::string>();
    } else if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
      sample.captions[key] = value.get<std::string>();
    }
  }
  return "";
}

std::string parse_label_text(const std::string& text, int64_t& label) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    label = -1;
    return "";
  }
  const auto last = text.find_last_not_of(" \t\r\n");
  const std::string t = text.substr(first, last - first + 1);
  size_t used = 0;
  try {
    label = std::stoll(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != t.size()) return "label '" + t + "' is not an integer class id";
  return "";
}

std::string read_file_bytes(const std::string& path, std::string& bytes) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return "image file not found: " + path;
  const std::streamoff size = f.tellg();
  if (size <= 0) return "empty image file: " + path;
  bytes.resize(static_cast<size_t>(size));
  f.seekg(0);
  if (!f.read(bytes.data(), size)) return "cannot read image file: " + path;
  return "";
}

}  // namespace tips::data::detail
