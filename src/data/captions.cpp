#include "tips/data/captions.h"

#include "tips/core/error.h"

namespace tips::data {

namespace {

const std::string* find_text(const RawSample& s, const std::string& field) {
  const auto it = s.captions.find(field);
  return it == s.captions.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

CaptionSampler::CaptionSampler(const CaptionConfig& cfg) : cfg_(cfg) {
  const std::map<std::string, double>* streams[2] = {&cfg.stream1, &cfg.stream2};
  for (int k = 0; k < 2; ++k) {
    const std::string key = "data.captions.stream" + std::to_string(k + 1);
    double total = 0;
    for (const auto& [field, p] : *streams[k]) {
      if (!(p >= 0))
        throw ConfigError(key + "." + field + ": probability must be >= 0, got " + std::to_string(p),
                          "use e.g. {caption_medium: 0.5, caption_long: 0.5}");
      total += p;
    }
    if (streams[k]->empty() || !(total > 0))
      throw ConfigError(key + ": needs at least one field with a positive probability",
                        "use e.g. {alt_text: 1.0}");
    double acc = 0;
    for (const auto& [field, p] : *streams[k]) {
      if (p == 0) continue;
      acc += p / total;
      cdf_[k].emplace_back(field, acc);
    }
    cdf_[k].back().second = 1.0;  // guard against round-off leaving u close to 1 unmatched
  }
}

const std::string& CaptionSampler::field_for(int stream, double u) const {
  TORCH_CHECK(stream == 1 || stream == 2, "CaptionSampler::field_for: stream must be 1 or 2, got ", stream);
  const Cdf& cdf = cdf_[stream - 1];
  for (const auto& [field, c] : cdf)
    if (u < c) return field;
  return cdf.back().first;
}

bool CaptionSampler::pick(const RawSample& s, int stream, double u, CaptionPick& out, std::string& reason) const {
  const std::string& field = field_for(stream, u);
  if (const std::string* t = find_text(s, field)) {
    out = {*t, field};
    return true;
  }
  const std::string what = "sample '" + s.key + "' has no caption field '" + field + "' (stream " +
                           std::to_string(stream) + ")";
  switch (cfg_.missing) {
    case MissingCaption::kError:
      throw DataError(what, "set data.captions.missing to skip or fallback, or fix the manifest at " +
                                (s.image_path.empty() ? s.key : s.image_path));
    case MissingCaption::kFallback:
      if (const std::string* t = find_text(s, cfg_.fallback_field)) {
        out = {*t, cfg_.fallback_field, /*fallback=*/true};
        return true;
      }
      reason = what + " and no fallback field '" + cfg_.fallback_field + "'";
      return false;
    case MissingCaption::kSkip:
      break;
  }
  reason = what;
  return false;
}

CaptionDraw CaptionSampler::draw(const RawSample& sample, rng::SplitMix& r) const {
  CaptionDraw d;
  // Both uniforms are drawn up front so the number of draws never depends on the sample's content.
  const double u1 = r.uniform(), u2 = r.uniform();
  if (pick(sample, 1, u1, d.stream1, d.skip_reason)) pick(sample, 2, u2, d.stream2, d.skip_reason);
  return d;
}

}  // namespace tips::data
