// Routes end to end: one logical model over several targets of an in-process emulator, which
// keeps separate quotas per region (the region of each request's SigV4 scope).

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aws/credentials_provider.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/inference_profiles_client.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "quotaflow/client.h"
#include "quotaflow/routes.h"

namespace quotaflow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNova[] = "amazon.nova-lite-v1:0";

std::string Body(int i, int words = 300) {
  std::string text = "Summarize contract " + std::to_string(i) + ":";
  for (int w = 0; w < words; ++w) text += " clause" + std::to_string(w % 89);
  return R"({"messages":[{"role":"user","content":[{"text":")" + text +
         R"("}]}],"inferenceConfig":{"maxTokens":500}})";
}

RouteTarget Target(std::string region, std::string model, int64_t tpm) {
  RouteTarget t;
  t.region = std::move(region);
  t.model_id = std::move(model);
  t.tokens_per_minute = tpm;
  return t;
}

struct Outcome {
  std::optional<ModelResult> result;
  std::optional<RequestFailure> failure;
};

class RoutingTest : public ::testing::Test {
 protected:
  // Every region and model gets `tpm` per `period`; no latency; outputs of 100 tokens.
  void StartEmulator(int64_t tpm, Duration period,
                     const emulator::FaultOptions& faults = emulator::FaultOptions(),
                     std::vector<emulator::ApplicationProfileOptions> applications = {}) {
    emulator::EmulatorOptions o = emulator::ImmediateEmulator(100);
    o.quotas.books.period = period;
    o.quotas.on_demand = emulator::MakePathQuota(tpm);
    o.quotas.cross_region = emulator::MakePathQuota(tpm);
    o.quotas.global = emulator::MakePathQuota(tpm);
    o.faults = faults;
    o.application_profiles = std::move(applications);
    emulator_ = std::make_unique<emulator::Emulator>(std::move(o));
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
  }

  // With `control_plane`, the client looks inference profiles up (GetInferenceProfile) in each
  // target's region, as `quotaflow batch` does.
  std::unique_ptr<Client> MakeClient(RouteConfig routes, Duration period,
                                     bool control_plane = false) {
    ClientOptions o;
    o.endpoint = emulator_->endpoint();
    o.credentials = &credentials_;
    if (control_plane) {
      o.inference_profiles_for = [this](const std::string& region) {
        auto& client = profiles_[region];
        if (!client) {
          bedrock::ControlPlaneOptions cpo;
          cpo.endpoint = emulator_->endpoint();
          cpo.region = region;
          cpo.credentials = &credentials_;
          auto made = bedrock::InferenceProfilesClient::Create(*http_, cpo);
          EXPECT_TRUE(made) << made.error().message;
          if (made) client = std::move(*made);
        }
        return client.get();
      };
      o.inference_profiles = o.inference_profiles_for(o.region);
    }
    o.routes = std::move(routes);
    o.period = period;
    o.jitter_seed = 3;
    o.transient_backoff = milliseconds(50);
    o.warn = [](const std::string&) {};
    auto client = Client::Create(std::move(o));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }

  std::vector<Outcome> RunAll(Client& client, const std::string& model, int n,
                              const SubmitOptions& options = {}) {
    std::vector<Outcome> out(static_cast<size_t>(n));
    std::mutex mu;
    for (int i = 0; i < n; ++i) {
      ModelRequest r;
      r.model_id = model;
      r.body = Body(i);
      client.Submit(std::move(r), options, [&out, &mu, i](RequestResult result) {
        std::lock_guard lock(mu);
        if (result) {
          out[static_cast<size_t>(i)].result = std::move(*result);
        } else {
          out[static_cast<size_t>(i)].failure = std::move(result.error());
        }
      });
    }
    EXPECT_TRUE(client.WaitIdle(std::chrono::minutes(2)));
    std::lock_guard lock(mu);
    return out;
  }

  // The regions whose books the emulator charged, with the model or profile of each.
  std::vector<std::string> ChargedBooks() const {
    std::vector<std::string> charged;
    boost::json::value state = boost::json::parse(emulator_->StateJson());
    for (const auto& key : state.at("keys").as_array()) {
      if (key.at("counters").at("admitted").as_int64() > 0) {
        charged.emplace_back(key.at("key").as_string());
      }
    }
    return charged;
  }

  void SetUp() override {
    loop_.Start();
    http_ = std::make_unique<aws::HttpClient>(loop_);
  }
  void TearDown() override {
    profiles_.clear();
    http_.reset();
    loop_.Stop();
  }

  aws::StaticCredentialsProvider credentials_{
      aws::Credentials{emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""}};
  std::unique_ptr<emulator::Emulator> emulator_;
  aws::EventLoop loop_{SystemClock()};
  std::unique_ptr<aws::HttpClient> http_;
  std::map<std::string, std::unique_ptr<bedrock::InferenceProfilesClient>> profiles_;
};

// Requests per second over the run: from the first start to the last finish.
double Throughput(const std::vector<Outcome>& outcomes) {
  SteadyTime first = SteadyTime::max();
  SteadyTime last = SteadyTime::min();
  for (const auto& o : outcomes) {
    if (!o.result) continue;
    first = std::min(first, o.result->started);
    last = std::max(last, o.result->finished);
  }
  return static_cast<double>(outcomes.size()) / ToSeconds(last - first);
}

TEST_F(RoutingTest, TwoRegionsOfEqualQuotaCarryTwiceTheThroughputWithoutThrottles) {
  const Duration period = seconds(2);
  constexpr int64_t kTpm = 60'000;  // per region: ~40 requests of ~1,400 reserved per period
  StartEmulator(kTpm, period);
  RouteConfig config;
  Route one;
  one.name = "one-region";
  one.targets = {Target("us-east-1", kNova, kTpm)};
  Route two;
  two.name = "two-regions";
  two.targets = {Target("us-east-1", kNova, kTpm), Target("us-west-2", kNova, kTpm)};
  config.routes.emplace(one.name, one);
  config.routes.emplace(two.name, two);

  auto single_client = MakeClient(config, period);
  std::vector<Outcome> single = RunAll(*single_client, "one-region", 160);
  single_client.reset();
  // A fresh emulator, so the second run does not start where the first left us-east-1's quota.
  StartEmulator(kTpm, period);
  auto dual_client = MakeClient(config, period);
  std::vector<Outcome> dual = RunAll(*dual_client, "two-regions", 320);

  std::map<std::string, int> split;
  for (const auto& o : dual) {
    ASSERT_TRUE(o.result) << o.failure->error.ToString();
    split[o.result->target] += 1;
  }
  for (const auto& o : single) ASSERT_TRUE(o.result) << o.failure->error.ToString();
  const double ratio = Throughput(dual) / Throughput(single);
  std::printf("two regions: %.1f req/s, one region: %.1f req/s, ratio %.2f\n", Throughput(dual),
              Throughput(single), ratio);
  EXPECT_GE(ratio, 1.9) << "two regions: " << Throughput(dual)
                        << " req/s, one: " << Throughput(single);
  int64_t throttles = 0;
  for (const ModelStats& m : dual_client->Stats().models) throttles += m.throttles;
  EXPECT_EQ(throttles, 0);
  EXPECT_NEAR(split["us-east-1/amazon.nova-lite-v1:0"], 160, 16) << "the load is split evenly";
  EXPECT_NEAR(split["us-west-2/amazon.nova-lite-v1:0"], 160, 16);
}

TEST_F(RoutingTest, WhenARegionStartsFailingNewStartsMoveToTheHealthyOneAndNothingFails) {
  const Duration period = seconds(2);
  constexpr int64_t kTpm = 60'000;
  emulator::FaultOptions faults;
  faults.service_unavailable = 1.0;
  faults.regions = {"us-west-2"};
  faults.start_after = seconds(1);
  StartEmulator(kTpm, period, faults);
  RouteConfig config;
  Route route;
  route.name = "contracts";
  route.targets = {Target("us-east-1", kNova, kTpm), Target("us-west-2", kNova, kTpm)};
  config.routes.emplace(route.name, route);
  auto client = MakeClient(config, period);

  // Samples the per-target start counters while the run goes on.
  struct Sample {
    SteadyTime at;
    int64_t east = 0, west = 0, west_errors = 0;
  };
  std::vector<Sample> samples;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done.load()) {
      Sample s{.at = SystemClock().Now()};
      for (const ModelStats& m : client->Stats().models) {
        if (m.region == "us-east-1") s.east = m.requests_sent;
        if (m.region == "us-west-2") {
          s.west = m.requests_sent;
          s.west_errors = m.errors;
        }
      }
      samples.push_back(s);
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  std::vector<Outcome> outcomes = RunAll(*client, "contracts", 500);
  done.store(true);
  sampler.join();

  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.result) << "no document fails: " << o.failure->error.ToString();
  }
  // From 5 s after the first 503, at least 90% of the starts are in the healthy region.
  auto first_error = std::find_if(samples.begin(), samples.end(),
                                  [](const Sample& s) { return s.west_errors > 0; });
  ASSERT_NE(first_error, samples.end()) << "us-west-2 never failed";
  auto from = std::find_if(first_error, samples.end(),
                           [&](const Sample& s) { return s.at >= first_error->at + seconds(5); });
  ASSERT_NE(from, samples.end()) << "the run ended within 5 s of the first 503";
  const Sample& end = samples.back();
  const int64_t east = end.east - from->east;
  const int64_t west = end.west - from->west;
  ASSERT_GT(east + west, 20) << "too few starts after the failover window to judge";
  std::printf(
      "from 5 s after the first 503: %lld starts in the healthy region, %lld in the failing one\n",
      static_cast<long long>(east), static_cast<long long>(west));
  EXPECT_GE(static_cast<double>(east) / static_cast<double>(east + west), 0.9)
      << east << " starts in us-east-1, " << west << " in us-west-2";
  // The failing region was cooled down rather than retried at full rate.
  bool cooled = false;
  for (const ModelStats& m : client->Stats().models) cooled = cooled || m.errors > 0;
  EXPECT_TRUE(cooled);
}

TEST_F(RoutingTest, AResidencyRuleIsNeverBrokenByARegionOrAProfile) {
  const Duration period = seconds(60);
  // Application profiles in eu-west-1: one copies the eu geography's profile, the other a global
  // profile. Only GetInferenceProfile tells them apart; the client runs in us-east-1.
  emulator::ApplicationProfileOptions in_eu;
  in_eu.id = "eucontracts";
  in_eu.copy_from = "eu.amazon.nova-lite-v1:0";
  in_eu.region = "eu-west-1";
  emulator::ApplicationProfileOptions worldwide = in_eu;
  worldwide.id = "worldwide";
  worldwide.copy_from = "global.anthropic.claude-sonnet-4-20250514-v1:0";
  StartEmulator(2'000'000, period, emulator::FaultOptions(), {in_eu, worldwide});
  const std::string arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/";
  RouteConfig config;
  Route route;
  route.name = "contracts";
  // Cheapest first: the worldwide, global and us targets would win every tie if the rule let them.
  route.targets = {Target("eu-west-1", arn + "worldwide", 2'000'000),
                   Target("eu-west-1", "global.anthropic.claude-sonnet-4-20250514-v1:0", 2'000'000),
                   Target("us-east-1", kNova, 2'000'000),
                   Target("eu-central-1", "eu.amazon.nova-lite-v1:0", 2'000'000),
                   Target("eu-west-1", arn + "eucontracts", 2'000'000)};
  route.targets[0].cost = 0.05;
  route.targets[1].cost = 0.1;
  route.targets[2].cost = 0.2;
  config.routes.emplace(route.name, route);
  config.classes.emplace("eu-only", ResidencyRule{.regions = {"eu-*"}});
  auto client = MakeClient(config, period, /*control_plane=*/true);
  SubmitOptions eu;
  eu.request_class = "eu-only";
  std::vector<Outcome> outcomes = RunAll(*client, "contracts", 60, eu);
  std::map<std::string, int> served;
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.result) << o.failure->error.ToString();
    served[o.result->target] += 1;
  }
  for (const auto& [target, n] : served) {
    EXPECT_TRUE(target == "eu-central-1/eu.amazon.nova-lite-v1:0" ||
                target == "eu-west-1/" + arn + "eucontracts")
        << n << " requests of class eu-only went to " << target;
  }
  // What the server saw: every request in an eu region, on the eu profile (the application
  // profile draws on the quota of the profile it copies).
  std::vector<std::string> charged = ChargedBooks();
  ASSERT_FALSE(charged.empty());
  for (const std::string& book : charged) {
    EXPECT_TRUE(book == "eu-central-1/eu.amazon.nova-lite-v1:0" ||
                book == "eu-west-1/eu.amazon.nova-lite-v1:0")
        << "an eu-only request was served by " << book;
  }
  // Without the class, the cheapest target takes the work.
  std::vector<Outcome> any = RunAll(*client, "contracts", 5);
  for (const auto& o : any) {
    ASSERT_TRUE(o.result) << o.failure->error.ToString();
    EXPECT_EQ(o.result->target, "eu-west-1/" + arn + "worldwide");
  }
  // A class whose rule no target satisfies fails clearly instead of leaving the region.
  RouteConfig strict = config;
  strict.classes.emplace("ap-only", ResidencyRule{.regions = {"ap-*"}});
  auto strict_client = MakeClient(strict, period, /*control_plane=*/true);
  SubmitOptions ap;
  ap.request_class = "ap-only";
  std::vector<Outcome> refused = RunAll(*strict_client, "contracts", 1, ap);
  ASSERT_TRUE(refused[0].failure);
  EXPECT_EQ(refused[0].failure->error.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused[0].failure->error.message.find("residency"), std::string::npos)
      << refused[0].failure->error.message;
}

TEST_F(RoutingTest, FallbackTakesPriorityClassesItIsGivenAndDeadlinesThePrimaryCannotMeet) {
  const Duration period = seconds(60);
  StartEmulator(2'000'000, period);
  RouteConfig config;
  Route small;
  small.name = "small";
  small.targets = {Target("us-east-1", "amazon.nova-micro-v1:0", 2'000'000)};
  Route primary;
  primary.name = "primary";
  // 3,000 tokens per minute: a ~900-token request waits many seconds on an empty bucket.
  primary.targets = {Target("us-east-1", kNova, 3'000)};
  primary.fallback = "small";
  primary.fallback_priorities = {kPriorityLow};
  config.routes.emplace(small.name, small);
  config.routes.emplace(primary.name, primary);
  auto client = MakeClient(config, period);

  SubmitOptions low;
  low.priority = kPriorityLow;
  std::vector<Outcome> lows = RunAll(*client, "primary", 3, low);
  for (const auto& o : lows) {
    ASSERT_TRUE(o.result) << o.failure->error.ToString();
    EXPECT_EQ(o.result->target, "us-east-1/amazon.nova-micro-v1:0") << "low goes to the fallback";
  }
  SubmitOptions urgent;
  urgent.priority = kPriorityHigh;
  urgent.deadline = SystemClock().Now() + seconds(2);
  std::vector<Outcome> urgents = RunAll(*client, "primary", 2, urgent);
  for (const auto& o : urgents) {
    ASSERT_TRUE(o.result) << o.failure->error.ToString();
    EXPECT_EQ(o.result->target, "us-east-1/amazon.nova-micro-v1:0")
        << "a deadline the primary cannot meet is met on the fallback";
  }
}

TEST(RouteConfig, ParsesRoutesTargetsAndClasses) {
  auto config = ParseRouteConfig(R"(
[[route]]
name = "contracts"
fallback = "small"
fallback_for = ["low"]

[[route.target]]
region = "eu-west-1"
model = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
cost = 2.0
tpm = 200_000
classes = ["eu-only", "default"]

[[route.target]]
region = "eu-central-1"
model = "amazon.nova-lite-v1:0"

[[route]]
name = "small"
[[route.target]]
region = "eu-west-1"
model = "amazon.nova-micro-v1:0"

[class.eu-only]
regions = ["eu-*"]
)",
                                 "routes.toml");
  ASSERT_TRUE(config) << config.error().message;
  const Route& r = config->routes.at("contracts");
  EXPECT_EQ(r.fallback, "small");
  EXPECT_EQ(r.fallback_priorities, std::vector<int>{kPriorityLow});
  ASSERT_EQ(r.targets.size(), 2u);
  EXPECT_EQ(r.targets[0].Key(), "eu-west-1/eu.anthropic.claude-3-7-sonnet-20250219-v1:0");
  EXPECT_DOUBLE_EQ(r.targets[0].cost, 2.0);
  EXPECT_EQ(r.targets[0].tokens_per_minute, 200'000);
  EXPECT_EQ(r.targets[0].classes, (std::vector<std::string>{"eu-only", "default"}));
  EXPECT_EQ(r.targets[1].classes, std::vector<std::string>{"*"});
  EXPECT_EQ(config->classes.at("eu-only").regions, std::vector<std::string>{"eu-*"});
}

TEST(RouteConfig, MistakesAreNamedWithTheirLine) {
  struct Case {
    const char* toml;
    const char* message;
  };
  const Case cases[] = {
      {"[[route]]\nname = \"a\"\n", "routes.toml:1: route.target: a route needs a target"},
      {"[[route]]\nname = \"a\"\nfallbak = \"b\"\n[[route.target]]\nregion = \"us-east-1\"\n"
       "model = \"m\"\n",
       "routes.toml:3: route.fallbak: unknown key"},
      {"[[route]]\nname = \"a\"\n[[route.target]]\nregion = \"us-east-1\"\n",
       "route.target.model: is required"},
      {"[[route]]\nname = \"a\"\nfallback = \"b\"\n[[route.target]]\nregion = \"r\"\nmodel = "
       "\"m\"\n",
       "route 'a' falls back to 'b', which is not a route"},
      {"[[route]]\nname = \"a\"\nfallback = \"a\"\n[[route.target]]\nregion = \"r\"\nmodel = "
       "\"m\"\n",
       "fallback loop"},
      {"[[route]]\nname = \"a\"\nfallback_for = [\"urgent\"]\n[[route.target]]\nregion = "
       "\"r\"\nmodel = \"m\"\n",
       "priority 'urgent' is not high, normal or low"},
      {"[class.eu]\nregion = [\"eu-*\"]\n", "routes.toml:2: class.eu.region: unknown key"},
      {"[[route]\n", "routes.toml:1:"},
  };
  for (const Case& c : cases) {
    auto config = ParseRouteConfig(c.toml, "routes.toml");
    ASSERT_FALSE(config) << c.toml;
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(config.error().message.find(c.message), std::string::npos)
        << config.error().message << "\nexpected: " << c.message;
  }
}

TEST(Residency, ADestinationMustBeCoveredByTheRulesRegions) {
  const ResidencyRule eu{.regions = {"eu-*"}};
  EXPECT_TRUE(ResidencyAllows(eu, {"eu-west-1"}));
  EXPECT_TRUE(ResidencyAllows(eu, ImpliedDestinations("eu.amazon.nova-lite-v1:0", "eu-west-1")));
  EXPECT_FALSE(ResidencyAllows(eu, ImpliedDestinations("global.anthropic.x", "eu-west-1")));
  EXPECT_FALSE(ResidencyAllows(eu, ImpliedDestinations("us.amazon.nova-lite-v1:0", "us-east-1")));
  EXPECT_FALSE(ResidencyAllows(eu, {"eu-west-1", "us-east-1"})) << "one destination outside";
  EXPECT_TRUE(ResidencyAllows(ResidencyRule{.regions = {"*"}}, {"*"}));
  EXPECT_EQ(ImpliedDestinations("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.m", "eu-west-1"),
            std::vector<std::string>{"eu-*"});
  EXPECT_EQ(ImpliedDestinations("amazon.nova-lite-v1:0", "ap-south-1"),
            std::vector<std::string>{"ap-south-1"});
  EXPECT_TRUE(WildcardMatch("eu-*-1", "eu-west-1"));
  EXPECT_FALSE(WildcardMatch("eu-*-1", "eu-west-2"));
}

}  // namespace
}  // namespace quotaflow
