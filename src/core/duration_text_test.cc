#include "quotaflow/duration_text.h"

#include <gtest/gtest.h>

#include <vector>

namespace quotaflow {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(Duration, ParsesEveryUnitAndCompounds) {
  EXPECT_EQ(ParseDuration("0"), Duration::zero());
  EXPECT_EQ(ParseDuration("0s"), Duration::zero());
  EXPECT_EQ(ParseDuration("7ns"), nanoseconds(7));
  EXPECT_EQ(ParseDuration("250us"), std::chrono::microseconds(250));
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("6s"), seconds(6));
  EXPECT_EQ(ParseDuration("1m"), minutes(1));
  EXPECT_EQ(ParseDuration("2h"), hours(2));
  EXPECT_EQ(ParseDuration("1m30s"), seconds(90));
  EXPECT_EQ(ParseDuration("1h1m1s1ms1us1ns"), hours(1) + minutes(1) + seconds(1) + milliseconds(1) +
                                                  std::chrono::microseconds(1) + nanoseconds(1));
  EXPECT_EQ(ParseDuration("90s"), seconds(90));          // parts need not be normalised
  EXPECT_EQ(ParseDuration("2562047h"), hours(2562047));  // about the largest that fits
}

TEST(Duration, RejectsWhatIsNotADuration) {
  for (const char* text : {"", "s", "1", "00", "1.5s", " 1s", "1s ", "1 s", "1d", "1S", "+1s",
                           "-1s", "1s-1ms", "ms", "1mss", "2562048h", "99999999999999999999s"}) {
    Result<Duration> d = ParseDuration(text);
    EXPECT_FALSE(d.has_value()) << text;
    if (!d) {
      EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument) << text;
    }
  }
  EXPECT_EQ(ParseDuration("2562048h").error().message, "invalid duration \"2562048h\": too long");
}

TEST(Duration, FormatsTheShortestFormAndRoundTrips) {
  EXPECT_EQ(FormatDuration(Duration::zero()), "0");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(seconds(6)), "6s");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(minutes(120)), "2h");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(-seconds(1)), "-1s");
  EXPECT_EQ(FormatDuration(Duration::min()), "-2562047h47m16s854ms775us808ns");
  for (Duration d :
       std::vector<Duration>{nanoseconds(1), std::chrono::microseconds(999), milliseconds(61'001),
                             hours(24) + nanoseconds(5), Duration::max()}) {
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
}

}  // namespace
}  // namespace quotaflow
