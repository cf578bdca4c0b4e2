// open_source() dispatch and shard-pattern brace expansion.
#include "tips/data/source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "tips/core/error.h"
#include "tips/data/manifest_source.h"
#include "tips/data/tar_source.h"

namespace tips::data {

namespace {

constexpr size_t kMaxExpansions = 10'000'000;

[[noreturn]] void bad_pattern(const std::string& pattern, const std::string& why) {
  throw DataError("bad shard pattern '" + pattern + "': " + why,
                  "use ranges like data/{00000..00127}.tar or lists like {train,extra}-{0..9}.tar");
}

// Index of the '}' closing the '{' at `open`, or npos.
size_t matching_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string::npos;
}

// Commas at nesting depth 0 of body.
std::vector<std::string> split_top_level(const std::string& body) {
  std::vector<std::string> parts{""};
  int depth = 0;
  for (char c : body) {
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (c == ',' && depth == 0) parts.emplace_back();
    else parts.back() += c;
  }
  return parts;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "007..012" -> 007, 008, ..., 012 (zero padding kept when either bound has a leading zero).
std::vector<std::string> expand_range(const std::string& pattern, const std::string& body) {
  const size_t dots = body.find("..");
  if (dots == std::string::npos) bad_pattern(pattern, "'{" + body + "}' is neither a list {a,b} nor a range {0..9}");
  const std::string lo_s = body.substr(0, dots), hi_s = body.substr(dots + 2);
  if (!all_digits(lo_s) || !all_digits(hi_s) || lo_s.size() > 18 || hi_s.size() > 18)
    bad_pattern(pattern, "range '{" + body + "}' needs two non-negative integers");
  const int64_t lo = std::stoll(lo_s), hi = std::stoll(hi_s);
  const bool padded = (lo_s.size() > 1 && lo_s[0] == '0') || (hi_s.size() > 1 && hi_s[0] == '0');
  const size_t width = padded ? std::max(lo_s.size(), hi_s.size()) : 0;
  if (static_cast<size_t>(std::abs(hi - lo)) >= kMaxExpansions) bad_pattern(pattern, "range '{" + body + "}' is too long");
  std::vector<std::string> out;
  const int64_t step = hi >= lo ? 1 : -1;
  for (int64_t v = lo;; v += step) {
    std::string s = std::to_string(v);
    if (s.size() < width) s.insert(0, width - s.size(), '0');
    out.push_back(std::move(s));
    if (v == hi) break;
  }
  return out;
}

std::vector<std::string> expand(const std::string& pattern, const std::string& s) {
  const size_t open = s.find('{');
  const size_t stray = s.find('}');
  if (stray != std::string::npos && (open == std::string::npos || stray < open))
    bad_pattern(pattern, "unmatched '}'");
  if (open == std::string::npos) return {s};
  const size_t close = matching_brace(s, open);
  if (close == std::string::npos) bad_pattern(pattern, "unmatched '{'");
  const std::string body = s.substr(open + 1, close - open - 1);
  if (body.empty()) bad_pattern(pattern, "empty '{}'");
  std::vector<std::string> alternatives;
  const auto parts = split_top_level(body);
  if (parts.size() == 1) {
    alternatives = expand_range(pattern, body);
  } else {
    for (const auto& part : parts)
      for (auto& e : expand(pattern, part)) alternatives.push_back(std::move(e));
  }
  const auto suffixes = expand(pattern, s.substr(close + 1));
  if (alternatives.size() * suffixes.size() > kMaxExpansions) bad_pattern(pattern, "expands to too many names");
  std::vector<std::string> out;
  out.reserve(alternatives.size() * suffixes.size());
  const std::string prefix = s.substr(0, open);
  for (const auto& a : alternatives)
    for (const auto& b : suffixes) out.push_back(prefix + a + b);
  return out;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern) { return expand(pattern, pattern); }

std::unique_ptr<SampleSource> open_source(const DataConfig& cfg, uint64_t seed, int rank, int world_size) {
  ManifestFields fields;
  fields.image_field = cfg.image_field;
  fields.label_field = cfg.label_field;
  switch (cfg.source) {
    case SourceKind::kFashionMosaic:
      if (!std::filesystem::exists(cfg.path)) {
        const std::string dir = std::filesystem::path(cfg.path).parent_path().string();
        throw DataError("fashion mosaic manifest not found: " + cfg.path,
                        "generate it first: tips data fashion-mosaic --out " + (dir.empty() ? "." : dir));
      }
      return std::make_unique<ManifestSource>(cfg.path, fields, seed, rank, world_size);
    case SourceKind::kManifest:
      return std::make_unique<ManifestSource>(cfg.path, fields, seed, rank, world_size);
    case SourceKind::kTar: {
      TarSourceOptions opts;
      opts.fields = fields;
      opts.shuffle_buffer = cfg.loader.shuffle_buffer;
      return std::make_unique<TarSource>(expand_braces(cfg.path), opts, seed, rank, world_size);
    }
  }
  throw DataError("unknown data.source", "use fashion_mosaic | manifest | tar");
}

}  // namespace tips::data
