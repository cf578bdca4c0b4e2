// ManifestSource: offset index at open, parse + image read per next(), epoch permutations per rank.
#include "tips/data/manifest_source.h"

#include <algorithm>
#include <filesystem>

#include "permutation.h"
#include "record_fields.h"
#include "tips/core/error.h"

namespace tips::data {

namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

std::string resolve(const std::string& dir, const std::string& p) {
  const fs::path path(p);
  return path.is_absolute() ? p : (fs::path(dir) / path).lexically_normal().string();
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

}  // namespace

ManifestFormat manifest_format(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".jsonl" || ext == ".json") return ManifestFormat::kJsonl;
  if (ext == ".csv") return ManifestFormat::kCsv;
  if (ext == ".tsv") return ManifestFormat::kTsv;
  throw DataError("manifest " + path + ": unknown extension '" + ext + "'",
                  "name manifests .jsonl (one JSON object per line), .csv or .tsv (with a header row)");
}

bool split_delimited(const std::string& record, char delimiter, std::vector<std::string>& fields) {
  fields.clear();
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted) {
      if (c != '"') cur += c;
      else if (i + 1 < record.size() && record[i + 1] == '"') cur += '"', ++i;
      else quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(cur));
      cur.clear();
    } else if (c != '\r' || i + 1 != record.size()) {  // a CRLF line end is not part of the field
      cur += c;
    }
  }
  fields.push_back(std::move(cur));
  return !quoted;
}

ManifestSource::ManifestSource(const std::string& path, ManifestFields fields, uint64_t seed, int rank,
                               int world_size)
    : path_(path),
      name_(fs::path(path).filename().string()),
      dir_(fs::path(path).parent_path().string()),
      format_(manifest_format(path)),
      fields_(std::move(fields)),
      seed_(seed),
      rank_(rank),
      world_(world_size) {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "ManifestSource: rank ", rank,
              " outside world_size ", world_size);
  if (!fs::is_regular_file(path))
    throw DataError("manifest not found: " + path, "check data.path (relative paths start at the working folder)");
  file_.open(path, std::ios::binary);
  if (!file_) throw DataError("cannot open manifest " + path, "check file permissions");
  scan();
  if (records_.empty())
    throw DataError("manifest " + path + " holds no records", "write one JSON object per line (or CSV rows)");
  if (num_records() < world_)
    throw DataError("manifest " + path + " has " + std::to_string(num_records()) + " records for world_size " +
                        std::to_string(world_), "use a larger manifest or fewer ranks");
}

// Records end at a newline outside quotes (quotes only matter for CSV/TSV).
void ManifestSource::scan() {
  const bool delimited = format_ != ManifestFormat::kJsonl;
  std::string text((std::istreambuf_iterator<char>(file_)), std::istreambuf_iterator<char>());
  file_.clear();
  int64_t line = 1, start = 0, start_line = 1;
  bool quoted = false, header_done = !delimited;
  auto finish = [&](int64_t end) {
    const std::string rec = text.substr(start, end - start);
    if (!blank(rec)) {
      if (!header_done) {
        split_delimited(rec, format_ == ManifestFormat::kCsv ? ',' : '\t', columns_);
        header_done = true;
      } else {
        records_.push_back({start, end - start, start_line});
      }
    }
  };
  for (int64_t i = 0; i < static_cast<int64_t>(text.size()); ++i) {
    if (delimited && text[i] == '"') quoted = !quoted;
    if (text[i] != '\n') continue;
    ++line;
    if (quoted) continue;
    finish(i);
    start = i + 1;
    start_line = line;
  }
  if (start < static_cast<int64_t>(text.size())) finish(static_cast<int64_t>(text.size()));
  if (delimited && header_done &&
      std::find(columns_.begin(), columns_.end(), fields_.image_field) == columns_.end()) {
    std::string names;
    for (const auto& c : columns_) names += (names.empty() ? "" : ", ") + c;
    throw DataError("manifest " + path_ + ": no column '" + fields_.image_field + "' in the header (" + names + ")",
                    "set data.image_field to the column holding image paths");
  }
}

int64_t ManifestSource::epoch_size() const { return (num_records() - rank_ + world_ - 1) / world_; }

void ManifestSource::build_epoch(int64_t epoch) {
  if (order_epoch_ == epoch) return;
  order_ = detail::seeded_permutation(num_records(), rng::derive(seed_, static_cast<uint64_t>(epoch)));
  order_epoch_ = epoch;
}

SourceItem ManifestSource::next() {
  if (state_.position >= epoch_size()) state_ = {state_.epoch + 1, 0};
  build_epoch(state_.epoch);
  const int64_t index = order_[rank_ + world_ * state_.position];
  ++state_.position;
  return read_record(index);
}

void ManifestSource::restore(const SourceState& s) {
  if (s.epoch < 0 || s.position < 0 || s.position > epoch_size())
    throw DataError("manifest " + path_ + ": cannot restore epoch " + std::to_string(s.epoch) + " position " +
                        std::to_string(s.position) + " (this rank has " + std::to_string(epoch_size()) +
                        " records per epoch)", "the manifest or world size changed since the checkpoint");
  state_ = s;
}

SourceItem ManifestSource::read_record(int64_t index) {
  TORCH_CHECK(index >= 0 && index < num_records(), "ManifestSource::read_record: index ", index, " outside [0, ",
              num_records(), ")");
  const Record& r = records_[index];
  std::string text(static_cast<size_t>(r.length), '\0');
  file_.seekg(r.offset);
  file_.read(text.data(), r.length);
  if (!file_) {
    file_.clear();
    throw DataError("manifest " + path_ + " changed while reading (line " + std::to_string(r.line) + ")",
                    "do not rewrite a manifest during training");
  }
  SourceItem item = parse(r, text);
  if (item.error.empty()) {
    const std::string why = detail::read_file_bytes(item.sample.image_path, item.sample.image_bytes);
    if (!why.empty()) item.error = name_ + ":" + std::to_string(r.line) + ": " + why;
  }
  return item;
}

SourceItem ManifestSource::parse(const Record& r, const std::string& text) const {
  SourceItem item = format_ == ManifestFormat::kJsonl ? parse_json(r, text) : parse_delimited(r, text);
  item.sample.key = name_ + ":" + std::to_string(r.line);
  if (!item.error.empty()) item.error = name_ + ":" + std::to_string(r.line) + ": " + item.error;
  return item;
}

SourceItem ManifestSource::parse_json(const Record& r, const std::string& text) const {
  SourceItem item;
  std::string image, mask;
  try {
    item.error = detail::take_json_fields(nlohmann::json::parse(text), fields_, item.sample, image, mask);
  } catch (const nlohmann::json::exception& e) {
    item.error = std::string("invalid JSON (") + e.what() + ")";
    return item;
  }
  if (item.error.empty() && image.empty()) item.error = "no '" + fields_.image_field + "' path";
  if (!image.empty()) item.sample.image_path = resolve(dir_, image);
  if (!mask.empty()) item.sample.label_map_path = resolve(dir_, mask);
  return item;
}

SourceItem ManifestSource::parse_delimited(const Record& r, const std::string& text) const {
  SourceItem item;
  std::vector<std::string> values;
  if (!split_delimited(text, format_ == ManifestFormat::kCsv ? ',' : '\t', values)) {
    item.error = "unterminated quote";
    return item;
  }
  if (values.size() != columns_.size()) {
    item.error = std::to_string(values.size()) + " fields, the header has " + std::to_string(columns_.size());
    return item;
  }
  for (size_t c = 0; c < columns_.size(); ++c) {
    const std::string& key = columns_[c];
    if (key == fields_.image_field) {
      if (!values[c].empty()) item.sample.image_path = resolve(dir_, values[c]);
    } else if (key == fields_.mask_field) {
      if (!values[c].empty()) item.sample.label_map_path = resolve(dir_, values[c]);
    } else if (key == fields_.label_field) {
      item.error = detail::parse_label_text(values[c], item.sample.label);
      if (!item.error.empty()) return item;
    } else if (!values[c].empty()) {
      item.sample.captions[key] = values[c];
    }
  }
  if (item.sample.image_path.empty()) item.error = "empty '" + fields_.image_field + "' field";
  return item;
}

}  // namespace tips::data
