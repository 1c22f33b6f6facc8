// The benchmark's model of the AWS SDK's adaptive retry mode against botocore's own classes:
// bench/sdk_adaptive_reference.py drives botocore's ClientRateLimiter (CubicCalculator,
// TokenBucket, RateClocker) on a fake clock through a seeded sequence of sends and responses, and
// every answer here must match it.
//
// Needs python3 with botocore (scripts/setup installs it). Without them the test skips, except
// when CI=true, where it fails: CI must not pass by skipping.

#include "sdk_adaptive.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "aws/test_process.h"

namespace quotaflow::bench {
namespace {

namespace json = boost::json;

struct Event {
  double t = 0;
  bool send = false;
  bool throttled = false;
};

// Bursts of sends and responses over ~two minutes, throttles in clusters (as a quota produces
// them), starting at a time that is not a whole second (RateClocker floors its first bucket).
std::vector<Event> Events(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> gap(0.0, 0.12);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Event> events;
  double t = 1'000.37;
  bool throttling = false;
  for (int i = 0; i < 3'000; ++i) {
    t += gap(rng);
    if (unit(rng) < 0.02) throttling = !throttling;
    Event e;
    e.t = t;
    e.send = unit(rng) < 0.5;
    e.throttled = !e.send && throttling && unit(rng) < 0.6;
    events.push_back(e);
  }
  return events;
}

bool CiRequiresIt() {
  const char* ci = std::getenv("CI");  // NOLINT(concurrency-mt-unsafe): no threads yet
  return ci != nullptr && std::string(ci) == "true";
}

TEST(SdkAdaptiveTest, MatchesBotocoresAdaptiveRateLimiterStepForStep) {
  const std::optional<std::string> python = testing_util::FindProgram("python3");
  if (!python) {
    if (CiRequiresIt()) FAIL() << "python3 not found";
    GTEST_SKIP() << "python3 not found";
  }
  const std::vector<Event> events = Events(7);
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("sdk_adaptive_events_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path);
    out.precision(17);
    out << json::serialize(json::object{{"t", events.front().t - 0.5}, {"op", "create"}}) << "\n";
    for (const Event& e : events) {
      json::object o{{"t", e.t}, {"op", e.send ? "send" : "response"}};
      if (!e.send) o["throttled"] = e.throttled;
      out << json::serialize(o) << "\n";
    }
  }
  std::string error;
  auto child = testing_util::Child::Spawn(
      {*python, std::string(QUOTAFLOW_SOURCE_DIR) + "/bench/sdk_adaptive_reference.py",
       path.string()},
      /*merge_stderr=*/true, &error);
  ASSERT_NE(child, nullptr) << error;
  const auto [status, output] = child->Wait();
  std::filesystem::remove(path);
  if (status != 0 && output.find("No module named 'botocore'") != std::string::npos) {
    if (CiRequiresIt()) FAIL() << output;
    GTEST_SKIP() << "botocore is not installed";
  }
  ASSERT_EQ(status, 0) << output;

  std::istringstream lines(output);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));  // create
  SdkClientRateLimiter limiter(events.front().t - 0.5);
  int throttles = 0;
  int refused = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE(std::getline(lines, line)) << "the reference stopped at event " << i;
    const json::object ref = json::parse(line).as_object();
    const Event& e = events[i];
    SCOPED_TRACE("event " + std::to_string(i) + " at " + std::to_string(e.t) + ": " + line);
    if (e.send) {
      double wait = 0;
      const bool ok = limiter.OnSendingRequest(e.t, &wait);
      ASSERT_EQ(ok, ref.at("ok").as_bool());
      if (!ok) {
        ++refused;
        EXPECT_NEAR(wait, ref.at("wait").to_number<double>(), 1e-9);
      }
    } else {
      limiter.OnReceivingResponse(e.t, e.throttled);
      throttles += e.throttled ? 1 : 0;
      EXPECT_NEAR(limiter.max_rate(), ref.at("max_rate").to_number<double>(), 1e-9);
      EXPECT_NEAR(limiter.measured_rate(), ref.at("measured").to_number<double>(), 1e-9);
      EXPECT_EQ(limiter.enabled(), ref.at("enabled").as_bool());
      EXPECT_NEAR(limiter.bucket().available(), ref.at("available").to_number<double>(), 1e-9);
    }
  }
  // The sequence exercised what matters: throttles, and sends the bucket held back.
  EXPECT_GT(throttles, 20);
  EXPECT_GT(refused, 20);
}

}  // namespace
}  // namespace quotaflow::bench
