#include "engine/io/json.h"

#include "gtest/gtest.h"

namespace favor::io {
namespace {

TEST(Json, ParsesDocuments) {
  const auto json = Json::Parse(
      R"({"a": 1, "b": [true, false, null, -2.5e3], "c": {"d": "x\"\u00e9\ud83d\ude00"}})", "t");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->Find("a")->Int("a").value(), 1);
  EXPECT_EQ(json->Find("b")->array().size(), 4u);
  EXPECT_TRUE(json->Find("b")->array()[0].bool_value());
  EXPECT_TRUE(json->Find("b")->array()[2].is_null());
  EXPECT_EQ(json->Find("b")->array()[3].number(), -2500.0);
  EXPECT_EQ(json->Find("c")->Find("d")->string(), "x\"\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(json->Find("missing"), nullptr);
}

TEST(Json, RejectsMalformedInputWithAPosition) {
  for (const char* bad : {"{", "[1, 2", "{\"a\" 1}", "\"abc", "tru", "{\"a\": 1} x", "[1,]",
                          "\"\\ud800\"", "1e999x"}) {
    const auto json = Json::Parse(bad, "config.json");
    ASSERT_FALSE(json.ok()) << bad;
    EXPECT_NE(json.status().message().find("config.json: invalid JSON at byte"),
              absl::string_view::npos)
        << json.status();
  }
  EXPECT_FALSE(Json::Parse(std::string(100000, '['), "deep").ok());  // Depth limit, no overflow.
  EXPECT_FALSE(Json::Parse("1.5", "x")->Int("n").ok());
}

}  // namespace
}  // namespace favor::io
