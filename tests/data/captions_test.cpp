#include "tips/data/captions.h"

#include <gtest/gtest.h>

#include "tips/core/error.h"

namespace {

using tips::data::CaptionConfig;
using tips::data::CaptionSampler;
using tips::data::MissingCaption;
using tips::data::RawSample;

RawSample full_sample() {
  RawSample s;
  s.key = "shard7/000042";
  s.captions = {{"alt_text", "a dog"}, {"caption_medium", "a brown dog on grass"},
                {"caption_long", "a brown dog lying on green grass in the sun"}, {"a", "A"}, {"b", "B"}, {"c", "C"}};
  return s;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::map<std::string, int>& observed, const std::map<std::string, double>& p, int n) {
  double chi2 = 0;
  for (const auto& [field, prob] : p) {
    const double e = prob * n;
    const auto it = observed.find(field);
    const double o = it == observed.end() ? 0 : it->second;
    chi2 += (o - e) * (o - e) / e;
  }
  return chi2;
}

TEST(CaptionSampler, FrequenciesMatchProbabilities) {
  struct Case { std::map<std::string, double> stream; std::map<std::string, double> expected; double chi2_crit; };
  // Critical values at p = 0.001: df 1 -> 10.83, df 2 -> 13.82. Weights need not sum to 1 (normalised).
  const Case cases[] = {
      {{{"caption_medium", 0.5}, {"caption_long", 0.5}}, {{"caption_medium", 0.5}, {"caption_long", 0.5}}, 10.83},
      {{{"a", 2}, {"b", 3}, {"c", 5}}, {{"a", 0.2}, {"b", 0.3}, {"c", 0.5}}, 13.82},
      {{{"a", 0.0}, {"b", 0.25}, {"c", 0.75}}, {{"b", 0.25}, {"c", 0.75}}, 10.83}};
  const RawSample s = full_sample();
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "stream of " << c.stream.size() << " fields, first " << c.stream.begin()->first);
    CaptionConfig cfg;
    cfg.stream2 = c.stream;
    CaptionSampler sampler(cfg);
    tips::rng::SplitMix r(2024);
    const int n = 20000;
    std::map<std::string, int> counts;
    for (int i = 0; i < n; ++i) {
      const auto d = sampler.draw(s, r);
      ASSERT_FALSE(d.skipped());
      EXPECT_EQ(d.stream1.field, "alt_text");
      EXPECT_EQ(d.stream1.text, "a dog");
      EXPECT_EQ(d.stream2.text, s.captions.at(d.stream2.field));
      ++counts[d.stream2.field];
    }
    for (const auto& [field, k] : counts) EXPECT_EQ(c.expected.count(field), 1u) << "unexpected field " << field;
    EXPECT_LT(chi_square(counts, c.expected, n), c.chi2_crit);
  }
}

TEST(CaptionSampler, InverseCdfBoundariesInNameOrder) {
  CaptionSampler sampler(CaptionConfig{});  // stream2: caption_long (name order first) 0.5, caption_medium 0.5
  struct Case { int stream; double u; const char* field; };
  const Case cases[] = {{2, 0.0, "caption_long"}, {2, 0.4999, "caption_long"}, {2, 0.5, "caption_medium"},
                        {2, 0.9999999, "caption_medium"}, {1, 0.0, "alt_text"}, {1, 0.99, "alt_text"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "stream " << c.stream << " u " << c.u);
    EXPECT_EQ(sampler.field_for(c.stream, c.u), c.field);
  }
}

TEST(CaptionSampler, MissingFieldPolicies) {
  struct Case {
    MissingCaption policy;
    std::map<std::string, std::string> captions;
    bool expect_throw, expect_skip;
    const char* field2;  // expected stream-2 field when neither thrown nor skipped
  };
  const Case cases[] = {
      {MissingCaption::kError, {{"alt_text", "x"}}, true, false, ""},
      {MissingCaption::kError, {{"alt_text", "x"}, {"caption_long", ""}}, true, false, ""},  // empty = missing
      {MissingCaption::kSkip, {{"alt_text", "x"}}, false, true, ""},
      {MissingCaption::kSkip, {{"caption_long", "y"}}, false, true, ""},  // stream 1 missing
      {MissingCaption::kFallback, {{"alt_text", "x"}}, false, false, "alt_text"},
      {MissingCaption::kFallback, {{"caption_long", "y"}}, false, true, ""},  // alt_text missing: no fallback
      {MissingCaption::kFallback, {{"alt_text", "x"}, {"caption_long", "y"}}, false, false, "caption_long"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "policy " << static_cast<int>(c.policy) << " fields " << c.captions.size());
    CaptionConfig cfg;
    cfg.stream2 = {{"caption_long", 1.0}};
    cfg.missing = c.policy;
    CaptionSampler sampler(cfg);
    RawSample s;
    s.key = "k/17";
    s.captions = c.captions;
    tips::rng::SplitMix r(1);
    if (c.expect_throw) {
      try {
        sampler.draw(s, r);
        ADD_FAILURE() << "expected DataError";
      } catch (const tips::DataError& e) {
        EXPECT_NE(std::string(e.what()).find("k/17"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("caption_long"), std::string::npos) << e.what();
        EXPECT_NE(e.hint().find("skip"), std::string::npos);
      }
      continue;
    }
    const auto d = sampler.draw(s, r);
    EXPECT_EQ(d.skipped(), c.expect_skip) << d.skip_reason;
    if (c.expect_skip) {
      EXPECT_NE(d.skip_reason.find("k/17"), std::string::npos) << d.skip_reason;
    } else {
      EXPECT_EQ(d.stream2.field, c.field2);
      EXPECT_EQ(d.stream2.text, c.captions.at(c.field2));
    }
  }
}

TEST(CaptionSampler, DrawsAreDeterministicAndUseTwoUniforms) {
  CaptionSampler sampler(CaptionConfig{});
  const RawSample s = full_sample();
  tips::rng::SplitMix a(77), b(77);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler.draw(s, a).stream2.field, sampler.draw(s, b).stream2.field);
  tips::rng::SplitMix c(5), d(5);
  sampler.draw(s, c);
  d.uniform();
  const double u2 = d.uniform();
  EXPECT_EQ(c.state, d.state);
  tips::rng::SplitMix e(5);
  EXPECT_EQ(sampler.draw(s, e).stream2.field, u2 < 0.5 ? "caption_long" : "caption_medium");
}

TEST(CaptionSampler, BadStreamsThrowConfigError) {
  const std::map<std::string, double> bad[] = {{}, {{"a", -1.0}, {"b", 2.0}}, {{"a", 0.0}}};
  for (const auto& stream : bad) {
    CaptionConfig cfg;
    cfg.stream1 = stream;
    EXPECT_THROW(CaptionSampler{cfg}, tips::ConfigError);
  }
}

}  // namespace
