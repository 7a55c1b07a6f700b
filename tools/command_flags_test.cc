#include "tools/command_flags.h"

#include "gtest/gtest.h"

namespace slayer {
namespace tools {
namespace {

TEST(CommandFlagsTest, ParsesAllKinds) {
  CommandFlags f("x", "", "");
  std::string s = "a";
  int64_t i = 1;
  double d = 0.5;
  bool b = false, c = true;
  f.String("s", &s, "");
  f.Int("i", &i, "");
  f.Double("d", &d, "");
  f.Bool("b", &b, "");
  f.Bool("c", &c, "");
  int code = -1;
  ASSERT_TRUE(f.Parse({"--s=hello", "pos1", "--i", "42", "--d=2.5", "--b", "--noc", "pos2"}, &code));
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(i, 42);
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(b);
  EXPECT_FALSE(c);
  EXPECT_EQ(f.positional(), std::vector<std::string>({"pos1", "pos2"}));
  EXPECT_TRUE(f.was_set("s"));
}

TEST(CommandFlagsTest, RejectsUnknownAndMalformed) {
  int64_t i = 0;
  int code = 0;
  {
    CommandFlags f("x", "", "");
    f.Int("i", &i, "");
    EXPECT_FALSE(f.Parse({"--bogus=1"}, &code));
    EXPECT_EQ(code, 2);
  }
  {
    CommandFlags f("x", "", "");
    f.Int("i", &i, "");
    EXPECT_FALSE(f.Parse({"--i=abc"}, &code));
    EXPECT_EQ(code, 2);
  }
  {
    CommandFlags f("x", "", "");
    f.Int("i", &i, "");
    EXPECT_FALSE(f.Parse({"--i"}, &code));
    EXPECT_EQ(code, 2);
  }
}

TEST(CommandFlagsTest, HelpExitsZero) {
  CommandFlags f("x", "[flags]", "Does x.");
  int code = -1;
  EXPECT_FALSE(f.Parse({"--help"}, &code));
  EXPECT_EQ(code, 0);
  EXPECT_NE(f.Usage().find("slayer x"), std::string::npos);
}

}  // namespace
}  // namespace tools
}  // namespace slayer
