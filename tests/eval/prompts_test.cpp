#include "tips/eval/prompts.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/error.h"

namespace {

using namespace tips::eval;

TEST(Prompts, FillTemplate) {
  struct Case {
    const char* tmpl;
    const char* name;
    const char* want;
  };
  const std::vector<Case> cases = {{"a photo of a {}.", "bag", "a photo of a bag."},
                                   {"a photo of {}s.", "sandal", "a photo of sandals."},
                                   {"{}", "coat", "coat"},
                                   {"{} and {}", "dress", "dress and dress"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.tmpl);
    EXPECT_EQ(fill_template(c.tmpl, c.name), c.want);
  }
  EXPECT_THROW(fill_template("no slot", "bag"), tips::ConfigError);
}

// A fake text tower: prompt -> a fixed vector derived from the prompt's characters (not normalised).
torch::Tensor fake_embed_one(const std::string& s) {
  std::vector<double> v(4, 0.0);
  for (size_t i = 0; i < s.size(); ++i) v[i % 4] += static_cast<unsigned char>(s[i]) * (1.0 + 0.01 * i);
  return torch::tensor(v, torch::kDouble);
}

TEST(Prompts, EnsembleMatchesManualFloat64) {
  const std::vector<std::string> names{"t-shirt", "bag", "ankle boot"};
  const std::vector<std::string> templates{"itap of a {}.", "a origami {}.", "a photo of {}s."};
  std::vector<std::string> seen;
  const EmbedTexts embed = [&](const std::vector<std::string>& texts) {
    seen = texts;
    std::vector<torch::Tensor> rows;
    for (const auto& t : texts) rows.push_back(fake_embed_one(t).to(torch::kFloat));
    return torch::stack(rows);
  };
  const auto got = class_embeddings(names, templates, embed);  // (3, 4)
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3, 4}));
  ASSERT_EQ(seen.size(), 9u);
  EXPECT_EQ(seen[0], "itap of a t-shirt.");  // class-major order
  EXPECT_EQ(seen[5], "a photo of bags.");
  for (size_t c = 0; c < names.size(); ++c) {
    SCOPED_TRACE(names[c]);
    std::vector<double> mean(4, 0.0);
    for (const auto& t : templates) {
      const auto e = fake_embed_one(fill_template(t, names[c]));
      const double n = std::sqrt((e * e).sum().item<double>());
      for (int d = 0; d < 4; ++d) mean[d] += e[d].item<double>() / n / templates.size();
    }
    double n = 0;
    for (double m : mean) n += m * m;
    n = std::sqrt(n);
    for (int d = 0; d < 4; ++d) EXPECT_NEAR(got[c][d].item<double>(), mean[d] / n, 1e-6) << "dim " << d;
  }
}

TEST(Prompts, EnsembleIsNotTheNormalisedSumOfRawEmbeddings) {
  // Per-prompt normalisation matters: a long vector must not dominate. (1,0)*100 and (0,1) -> (1,1)/sqrt2.
  const auto per_prompt = torch::tensor({100.0f, 0.0f, 0.0f, 1.0f}).view({1, 2, 2});
  const auto e = ensemble_prompts(per_prompt);
  EXPECT_NEAR(e[0][0].item<double>(), 1.0 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(e[0][1].item<double>(), 1.0 / std::sqrt(2.0), 1e-6);
}

TEST(Prompts, EmptyInputsAreConfigErrors) {
  const EmbedTexts embed = [](const std::vector<std::string>& t) { return torch::ones({int64_t(t.size()), 2}); };
  EXPECT_THROW(class_embeddings({}, {"a {}"}, embed), tips::ConfigError);
  EXPECT_THROW(class_embeddings({"bag"}, {}, embed), tips::ConfigError);
}

}  // namespace
