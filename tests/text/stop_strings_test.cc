// Stop strings over streamed text: held back while they might be starting, released as soon as
// they cannot, cut before the first that appears, with several at once and across pieces.
#include "engine/text/stop_strings.h"

#include "gtest/gtest.h"

namespace favor::text {
namespace {

// Streams `pieces` and returns the releases, each followed by "|".
std::string Releases(StopStrings& stops, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) out += stops.Add(piece) + "|";
  return out;
}

TEST(StopStrings, TextThatCannotBeginAStopIsReleasedAtOnce) {
  StopStrings stops({"END"});
  EXPECT_EQ(Releases(stops, {"hello ", "world"}), "hello |world|");
  EXPECT_FALSE(stops.matched().has_value());
  EXPECT_EQ(stops.Finish(), "");
}

TEST(StopStrings, APossibleStartIsHeldBackThenReleasedWhenItIsNot) {
  StopStrings stops({"END"});
  EXPECT_EQ(Releases(stops, {"the E", "N", "D?"}), "the |||");  // "EN" held, then "END" matched.
  EXPECT_EQ(stops.matched(), 0u);
  StopStrings not_a_stop({"END"});
  EXPECT_EQ(Releases(not_a_stop, {"the E", "N", "ough"}), "the ||ENough|");
  EXPECT_FALSE(not_a_stop.matched().has_value());
  // Held at the very end: it never became a stop string, so it is text after all.
  StopStrings at_the_end({"END"});
  EXPECT_EQ(Releases(at_the_end, {"last E"}), "last |");
  EXPECT_EQ(at_the_end.Finish(), "E");
}

TEST(StopStrings, SeveralStopsTheEarliestInTheTextWins) {
  StopStrings stops({"zzz", "\n\n", "User:"});
  EXPECT_EQ(Releases(stops, {"Answer.", "\n", "\nUser: more", "zzz"}), "Answer.||||");
  EXPECT_EQ(stops.matched(), 1u);
  EXPECT_EQ(stops.Add("after"), "") << "text after a stop is ignored";
  // Both in one piece: the earlier position wins, not the earlier in the list.
  StopStrings both({"B", "A"});
  EXPECT_EQ(both.Add("xxAyyB"), "xx");
  EXPECT_EQ(both.matched(), 1u);
  // The same position: the first listed.
  StopStrings same({"ab", "abc"});
  EXPECT_EQ(same.Add("xabc"), "x");
  EXPECT_EQ(same.matched(), 0u);
}

TEST(StopStrings, TheLongestPossiblePrefixOfAnyStopIsHeld) {
  StopStrings stops({"abcd", "cx"});
  // "abc" could begin "abcd"; "c" could begin "cx": the longer hold wins.
  EXPECT_EQ(stops.Add("zzabc"), "zz");
  EXPECT_EQ(stops.Add("x"), "ab");  // "abcx": "cx" matched after "ab".
  EXPECT_EQ(stops.matched(), 1u);
  StopStrings multibyte({"\xc3\xa9t\xc3\xa9"});  // "été"
  EXPECT_EQ(multibyte.Add("un \xc3\xa9t"), "un ");
  EXPECT_EQ(multibyte.Add("\xc3"), "");
  EXPECT_EQ(multibyte.Add("\xa9!"), "");
  EXPECT_EQ(multibyte.matched(), 0u);
}

TEST(StopStrings, NoStopsReleasesEverythingAndEmptyOnesNeverMatch) {
  StopStrings none({});
  EXPECT_EQ(none.Add("anything"), "anything");
  StopStrings empty({""});
  EXPECT_EQ(empty.Add("text"), "text");
  EXPECT_FALSE(empty.matched().has_value());
}

}  // namespace
}  // namespace favor::text
