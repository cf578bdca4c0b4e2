#include <gtest/gtest.h>

#include "tips/core/error.h"
#include "tips/data/source.h"

namespace {

using Names = std::vector<std::string>;

TEST(ExpandBraces, ExpandsListsRangesAndKeepsPadding) {
  const struct {
    std::string pattern;
    Names expected;
  } cases[] = {
      {"data/a.tar", {"data/a.tar"}},
      {"d/{0..3}.tar", {"d/0.tar", "d/1.tar", "d/2.tar", "d/3.tar"}},
      {"{00000..00002}.tar", {"00000.tar", "00001.tar", "00002.tar"}},
      {"{8..11}", {"8", "9", "10", "11"}},
      {"{08..11}", {"08", "09", "10", "11"}},
      {"{9..010}", {"009", "010"}},
      {"{3..1}", {"3", "2", "1"}},
      {"{5..5}", {"5"}},
      {"{a,b}-{1..2}.tar", {"a-1.tar", "a-2.tar", "b-1.tar", "b-2.tar"}},
      {"{a,{b,c}}x", {"ax", "bx", "cx"}},
      {"{x{0..1},y}", {"x0", "x1", "y"}},
      {"{a,}z", {"az", "z"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pattern);
    EXPECT_EQ(tips::data::expand_braces(c.pattern), c.expected);
  }
}

TEST(ExpandBraces, LongRangeHasEveryPaddedName) {
  const auto names = tips::data::expand_braces("s/{00000..00127}.tar");
  ASSERT_EQ(names.size(), 128u);
  EXPECT_EQ(names.front(), "s/00000.tar");
  EXPECT_EQ(names[57], "s/00057.tar");
  EXPECT_EQ(names.back(), "s/00127.tar");
}

TEST(ExpandBraces, MalformedPatternsThrowDataError) {
  for (const std::string bad : {"{", "}", "a{1..}", "{}", "{abc}", "{1..b}", "x}{0..1}", "{a,b", "{-1..2}",
                                "{1...3}"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(tips::data::expand_braces(bad), tips::DataError);
  }
}

}  // namespace
