// tips/data/manifest_source.h - a SampleSource over a JSONL or CSV/TSV manifest (one record per image).
//
// JSONL: one object per line, e.g. {"image": "imgs/a.png", "alt_text": "...", "label": 3, "mask": "m/a.png"}.
// CSV/TSV (by extension .csv / .tsv): a header row names the columns; fields may be "quoted" ("" = a quote,
// quoted fields may hold the delimiter and newlines). Blank lines are ignored.
// Per record: the image path is under `image_field`, an optional integer class under `label_field`, an
// optional label-map path under `mask_field`; every other non-empty string field is a caption
// (RawSample::captions, keyed by field name). Relative paths resolve against the manifest's folder.
// Open only scans record offsets; next() parses the record and reads the image bytes (no decoding).
// Bad records (invalid JSON, wrong types, missing or zero-byte image file) come back as items with
// `error` set ("train.jsonl:17: ..."); only a missing or empty manifest throws DataError.
// Order: epoch e visits a permutation seeded by rng::derive(seed, e); rank r takes its positions
// r, r + world, r + 2 world, ... so the ranks partition every epoch. restore() seeks in O(1) (after
// rebuilding the epoch's permutation).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "tips/data/source.h"

namespace tips::data {

enum class ManifestFormat { kJsonl, kCsv, kTsv };

struct ManifestFields {
  std::string image_field = "image";  // required: path of the encoded image
  std::string label_field = "label";  // optional: integer class id (absent/empty/null -> -1)
  std::string mask_field = "mask";    // optional: label-map path -> RawSample::label_map_path
};

// .jsonl/.json -> kJsonl, .csv -> kCsv, .tsv -> kTsv; throws DataError for any other extension.
ManifestFormat manifest_format(const std::string& path);

class ManifestSource : public SampleSource {
 public:
  // Throws DataError when the file is missing, holds no records, lacks the image column (CSV/TSV), or
  // has fewer records than world_size (a rank would get nothing).
  ManifestSource(const std::string& path, ManifestFields fields, uint64_t seed, int rank, int world_size);

  SourceItem next() override;
  SourceState state() const override { return state_; }
  void restore(const SourceState& s) override;
  int64_t epoch_size() const override;     // this rank's records per epoch: ceil((n - rank) / world)

  int64_t num_records() const { return static_cast<int64_t>(records_.size()); }  // all ranks
  // Record `index` in file order (0-based, header excluded), parsed and with its image read;
  // no shuffling and no effect on state(). For evaluation passes over a whole split.
  SourceItem read_record(int64_t index);

 private:
  struct Record {
    int64_t offset;  // byte offset of the record in the file
    int64_t length;  // bytes, without the trailing newline
    int64_t line;    // 1-based line number where the record starts
  };
  void scan();
  void build_epoch(int64_t epoch);
  SourceItem parse(const Record& r, const std::string& text) const;
  SourceItem parse_json(const Record& r, const std::string& text) const;
  SourceItem parse_delimited(const Record& r, const std::string& text) const;

  std::string path_, name_, dir_;
  ManifestFormat format_;
  ManifestFields fields_;
  uint64_t seed_;
  int rank_, world_;
  std::ifstream file_;
  std::vector<Record> records_;
  std::vector<std::string> columns_;  // CSV/TSV header
  std::vector<int64_t> order_;        // this epoch's permutation of record indices
  int64_t order_epoch_ = -1;
  SourceState state_;
};

// Splits one CSV/TSV record into fields ("" quotes, "" inside quotes = one quote). Returns false on an
// unterminated quote. Exposed for tests.
bool split_delimited(const std::string& record, char delimiter, std::vector<std::string>& fields);

}  // namespace tips::data
