#include "tips/eval/retrieval.h"

#include <gtest/gtest.h>

namespace {

using namespace tips::eval;

TEST(Retrieval, RecallOnHandBuiltSimilarities) {
  struct Case {
    const char* name;
    torch::Tensor sim;
    std::vector<int64_t> i2t_ranks, t2i_ranks;
    std::map<int64_t, double> i2t, t2i;
  };
  const std::vector<Case> cases = {
      // rows = images. Row 1 has text 0 above its own (rank 1); row 2 has text 1 above (rank 1).
      // Columns: text 1 has image 2 above its own (rank 1); the others are first.
      {"3x3", torch::tensor({0.9, 0.1, 0.2, 0.8, 0.5, 0.3, 0.1, 0.7, 0.6}).view({3, 3}), {0, 1, 1}, {0, 1, 0},
       {{1, 1.0 / 3}, {2, 1.0}, {5, 1.0}}, {{1, 2.0 / 3}, {2, 1.0}, {5, 1.0}}},
      // a collapsed model: every similarity equal; ties count against the query -> rank N-1.
      {"ties", torch::ones({4, 4}), {3, 3, 3, 3}, {3, 3, 3, 3}, {{1, 0.0}, {3, 0.0}, {4, 1.0}},
       {{1, 0.0}, {3, 0.0}, {4, 1.0}}},
      {"identity", torch::eye(5), {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {{1, 1.0}}, {{1, 1.0}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(torch::equal(correct_ranks(c.sim), torch::tensor(c.i2t_ranks, torch::kLong)));
    EXPECT_TRUE(torch::equal(correct_ranks(c.sim.t()), torch::tensor(c.t2i_ranks, torch::kLong)));
    std::vector<int64_t> ks;
    for (const auto& [k, v] : c.i2t) ks.push_back(k);
    const auto r = retrieval_recall(c.sim, ks);
    for (const auto& [k, v] : c.i2t) EXPECT_NEAR(r.image_to_text.at(k), v, 1e-12) << "i2t R@" << k;
    for (const auto& [k, v] : c.t2i) EXPECT_NEAR(r.text_to_image.at(k), v, 1e-12) << "t2i R@" << k;
  }
}

// Images 0 and 2 share a caption ("a bag"): with groups, text 2 is a right answer for image 0 and vice versa.
//   sim rows = images:  image 0: [0.2, 0.1, 0.9]  -> its own text is 2nd; text 2 (same caption) is 1st
//                       image 1: [0.3, 0.8, 0.1]  -> 1st either way
//                       image 2: [0.7, 0.6, 0.5]  -> own text 3rd; text 0 (same caption) 1st
TEST(Retrieval, IdenticalCaptionsCountWithGroups) {
  const auto sim = torch::tensor({0.2, 0.1, 0.9, 0.3, 0.8, 0.1, 0.7, 0.6, 0.5}).view({3, 3});
  const auto groups = text_groups({"a bag", "a coat", "a bag"});
  EXPECT_TRUE(torch::equal(groups, torch::tensor({0, 1, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(correct_ranks(sim), torch::tensor({1, 0, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(correct_ranks(sim, groups), torch::tensor({0, 0, 0}, torch::kLong)));
  // Text queries (columns): text 0 -> best of images {0, 2} is 0.7, image 1 (0.3) below: rank 0. Text 1 -> image 1
  // (0.8) first: rank 0. Text 2 -> best of {0, 2} is 0.9: rank 0. Without groups text 0 ranks 2 (0.7, 0.3 above
  // 0.2) and text 2 ranks 1 (0.9 above 0.5).
  EXPECT_TRUE(torch::equal(correct_ranks(sim.t(), groups), torch::tensor({0, 0, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(correct_ranks(sim.t()), torch::tensor({2, 0, 1}, torch::kLong)));
  const auto strict = retrieval_recall(sim, {1}), same = retrieval_recall(sim, {1}, groups);
  EXPECT_NEAR(strict.image_to_text.at(1), 1.0 / 3, 1e-12);
  EXPECT_NEAR(same.image_to_text.at(1), 1.0, 1e-12);
  EXPECT_NEAR(strict.text_to_image.at(1), 1.0 / 3, 1e-12);
  EXPECT_NEAR(same.text_to_image.at(1), 1.0, 1e-12);
  // All captions distinct: the groups change nothing.
  const auto distinct = text_groups({"x", "y", "z"});
  EXPECT_TRUE(torch::equal(correct_ranks(sim, distinct), correct_ranks(sim)));
  // Ties with a wrong item still count against the query.
  EXPECT_TRUE(torch::equal(correct_ranks(torch::ones({3, 3}), groups), torch::tensor({1, 2, 1}, torch::kLong)));
  EXPECT_THROW(correct_ranks(sim, torch::zeros({2}, torch::kLong)), c10::Error);
}

TEST(Retrieval, TokenPerCaptionStream) {
  EXPECT_EQ(retrieval_token("alt_text", true, ClsToken::kCls2), ClsToken::kCls1);
  EXPECT_EQ(retrieval_token("caption_long", true, ClsToken::kCls1), ClsToken::kCls2);
  EXPECT_EQ(retrieval_token("caption_medium", true, ClsToken::kCls1), ClsToken::kCls2);
  EXPECT_EQ(retrieval_token("alt_text", false, ClsToken::kCls2), ClsToken::kCls2);
  EXPECT_EQ(retrieval_token("caption_long", false, ClsToken::kCls1), ClsToken::kCls1);
}

TEST(Retrieval, RejectsNonSquareAndBadK) {
  EXPECT_THROW(correct_ranks(torch::zeros({2, 3})), c10::Error);
  EXPECT_THROW(retrieval_recall(torch::eye(2), {0}), c10::Error);
}

}  // namespace
