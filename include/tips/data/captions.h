// tips/data/captions.h - multi-granularity caption sampling: per text stream, draw which caption field
// (alt_text, caption_medium, caption_long, ...) supervises this sample. Not tokenisation (tokenizer.h).
//
// TIPSv2 default: stream 1 (-> CLS1) always alt_text; stream 2 (-> CLS2) caption_medium or caption_long 50/50.
// A field is "missing" when the sample has no such key or its text is empty. Policy (cfg.missing):
//   error    -> DataError naming the sample key and field
//   skip     -> the draw is marked skipped (the loader drops and counts the sample)
//   fallback -> cfg.fallback_field is used instead; if that is missing too, the draw is skipped
//
// Example:
//   tips::data::CaptionSampler sampler(cfg.captions);
//   auto d = sampler.draw(sample, rng);           // rng: tips::rng::SplitMix seeded per sample
//   if (d.skipped()) quarantine(sample.key, d.skip_reason); else use(d.stream1.text, d.stream2.text);
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tips/core/rng.h"
#include "tips/data/config.h"
#include "tips/data/sample.h"

namespace tips::data {

struct CaptionPick {
  std::string text;   // the caption used
  std::string field;  // the field it came from (the fallback field when the policy substituted it)
  bool fallback = false;  // true: the drawn field was missing and missing = fallback substituted fallback_field
};

struct CaptionDraw {
  CaptionPick stream1, stream2;
  std::string skip_reason;  // non-empty: the sample must be dropped (missing field under skip/fallback)
  bool skipped() const { return !skip_reason.empty(); }
};

class CaptionSampler {
 public:
  // Throws ConfigError when a stream is empty, has a negative probability or sums to 0.
  explicit CaptionSampler(const CaptionConfig& cfg);

  // Draws stream 1 then stream 2 (always exactly two uniforms from r). Throws DataError under missing = error.
  CaptionDraw draw(const RawSample& sample, rng::SplitMix& r) const;

  // The field of one stream for uniform u in [0, 1): inverse CDF over the normalised probabilities,
  // fields in name order. Exposed for tests.
  const std::string& field_for(int stream, double u) const;

 private:
  // (field, cumulative probability), last cumulative == 1.
  using Cdf = std::vector<std::pair<std::string, double>>;
  bool pick(const RawSample& s, int stream, double u, CaptionPick& out, std::string& reason) const;

  CaptionConfig cfg_;
  Cdf cdf_[2];
};

}  // namespace tips::data
