#include "aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "aws/moto_test_util.h"
#include "aws/test_process.h"
#include "aws/testdata.h"

namespace quotaflow::aws {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing_util::Child;
using testing_util::ClosedPort;
using testing_util::FindProgram;
using testing_util::MotoServer;
using testing_util::TempDir;

// --- helpers: child processes ---

// Ends the test when a tool is missing: skipped normally, failed when CI=true.
#define QF_REQUIRE_PROGRAM(var, name)                                                        \
  const std::optional<std::string> var = FindProgram(name);                                  \
  if (!(var)) {                                                                              \
    if (::quotaflow::testdata::RunningInCi()) FAIL() << (name) << " not found in PATH (CI)"; \
    GTEST_SKIP() << (name) << " not found in PATH; the test needs it";                       \
  }

// tests/metadata_server.py on a port of its own.
class MetadataServer {
 public:
  // nullptr (with `error` set) when it would not start.
  static std::unique_ptr<MetadataServer> Start(const std::string& python,
                                               const std::vector<std::string>& flags,
                                               std::string* error) {
    std::vector<std::string> argv = {
        python, std::string(QUOTAFLOW_SOURCE_DIR) + "/tests/metadata_server.py"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = Child::Spawn(argv, /*merge_stderr=*/false, error);
    if (!child) return nullptr;
    auto line = child->ReadLine(seconds(30));
    if (!line || !line->starts_with("PORT ")) {
      *error = "metadata_server.py did not report its port";
      return nullptr;
    }
    return std::unique_ptr<MetadataServer>(
        new MetadataServer(std::move(child), std::stoi(line->substr(5))));
  }

  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // GET /stats.
  boost::json::object Stats(HttpClient& http) const {
    HttpRequest request;
    request.url = Url("/stats");
    auto response = http.SendSync(std::move(request));
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    return boost::json::parse(response->body).as_object();
  }
  int64_t Count(HttpClient& http, const char* route) const {
    const boost::json::object stats = Stats(http);
    const boost::json::object& counts = stats.at("counts").as_object();
    return counts.contains(route) ? counts.at(route).as_int64() : 0;
  }

 private:
  MetadataServer(std::unique_ptr<Child> child, int port) : child_(std::move(child)), port_(port) {}

  std::unique_ptr<Child> child_;
  int port_;
};

#define QF_START_METADATA_SERVER(var, ...)                                      \
  QF_REQUIRE_PROGRAM(var##_python, "python3");                                  \
  std::string var##_error;                                                      \
  auto var = MetadataServer::Start(*var##_python, {__VA_ARGS__}, &var##_error); \
  ASSERT_NE(var, nullptr) << var##_error

// --- the fixture: a running HTTP client, a fake clock, a temp HOME ---

class CredentialsTest : public ::testing::Test {
 protected:
  CredentialsTest() : loop_(SystemClock()), http_(loop_) {
    if (!dir_.ok()) ADD_FAILURE() << "mkdtemp failed";
    loop_.Start();
    // Hermetic: no real ~/.aws, no IMDS probe, but a PATH for credential_process scripts.
    env_.Set("HOME", dir_.path().string())
        .Set("PATH", Environment::FromProcess().Get("PATH").value_or("/usr/bin:/bin"))
        .Set("AWS_EC2_METADATA_DISABLED", "true")
        .Set("AWS_CONFIG_FILE", (dir_.path() / "config").string())
        .Set("AWS_SHARED_CREDENTIALS_FILE", (dir_.path() / "credentials").string());
    options_.container_retry_delay = Duration::zero();
    // The IMDS tests talk to a Python server on loaded CI cores: botocore's 1 s default per
    // request is too tight there. An unreachable endpoint still fails at once (refused).
    options_.imds_timeout = seconds(30);
  }

  // Writes the two files and resolves the configuration (with --profile when given).
  AwsConfig Config(const std::string& config_text, const std::string& credentials_text = "",
                   const std::string& profile = "", const std::string& region = "us-east-1") {
    dir_.Write("config", config_text);
    dir_.Write("credentials", credentials_text);
    ConfigOverrides overrides;
    overrides.profile = profile;
    overrides.region = region;
    auto config = LoadAwsConfig(env_, overrides);
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
    return config.value_or(AwsConfig());
  }

  std::unique_ptr<CredentialChain> Chain(const AwsConfig& config) {
    return MakeDefaultCredentialChain(config, env_, http_, clock_, options_);
  }

  // credential_process script printing `body` (after `setup` shell lines), exiting `status`.
  std::string Script(const std::string& name, const std::string& body, int status = 0,
                     const std::string& setup = "") {
    return dir_.Write(name,
                      "#!/bin/sh\n" + setup + "cat <<'EOF'\n" + body + "\nEOF\nexit " +
                          std::to_string(status) + "\n",
                      /*executable=*/true);
  }

  TempDir dir_{"qf-cred"};
  Environment env_;
  FakeClock clock_;
  CredentialChainOptions options_;
  EventLoop loop_;
  HttpClient http_;  // destroyed before the loop
};

// --- ParseIso8601 ---

// The time `text` names; the epoch (and a test failure) if it names none.
WallTime At(std::string_view text) {
  auto time = ParseIso8601(text);
  EXPECT_TRUE(time.has_value()) << text;
  return time.value_or(WallTime());
}

TEST(ParseIso8601, ReadsTheFormsCredentialEndpointsWrite) {
  const WallTime base = At("2025-01-01T00:00:00Z");
  EXPECT_EQ(base.time_since_epoch(), seconds(1735689600));
  EXPECT_EQ(At("2025-01-01T01:00:00.500Z") - base, milliseconds(3600500));
  EXPECT_EQ(At("2026-11-23T04:15:30.683821Z") - At("2026-11-23T04:15:30Z"),
            std::chrono::microseconds(683821));
  EXPECT_EQ(At("2025-01-01T02:00:00+02:00"), base);
  EXPECT_EQ(At("2024-12-31T23:00:00-0100"), base);
  EXPECT_EQ(At("2025-01-01T00:00:00"), base);  // no zone: UTC
  EXPECT_EQ(ParseIso8601("2025-02-30T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601("2025-01-01"), std::nullopt);
  EXPECT_EQ(ParseIso8601("2025-01-01T00:00:00Q"), std::nullopt);
  EXPECT_EQ(ParseIso8601("+025-01-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601("soon"), std::nullopt);
}

// --- CredentialChain over scripted sources ---

// A source that answers from a script of results, counts its loads, and can hold a load until
// released (for the concurrency tests).
class FakeSource final : public CredentialSource {
 public:
  explicit FakeSource(std::string name) : name_(std::move(name)) {}

  std::string Describe() const override { return name_; }

  Result<std::optional<ExpiringCredentials>> Load() override {
    loads_.fetch_add(1);
    std::shared_future<void> gate;
    Result<std::optional<ExpiringCredentials>> result = std::nullopt;
    {
      std::lock_guard lock(mu_);
      gate = gate_;
      if (!results_.empty()) {
        result = results_.front();
        if (results_.size() > 1) results_.erase(results_.begin());
      }
    }
    entered_.fetch_add(1);
    if (gate.valid()) gate.wait();
    return result;
  }

  // Later loads answer these in turn; the last one repeats.
  void Answer(std::vector<Result<std::optional<ExpiringCredentials>>> results) {
    std::lock_guard lock(mu_);
    results_ = std::move(results);
  }
  void Hold(std::shared_future<void> gate) {
    std::lock_guard lock(mu_);
    gate_ = std::move(gate);
  }
  int loads() const { return loads_.load(); }
  int entered() const { return entered_.load(); }

 private:
  const std::string name_;
  std::mutex mu_;
  std::vector<Result<std::optional<ExpiringCredentials>>> results_;  // guarded by mu_
  std::shared_future<void> gate_;                                    // guarded by mu_
  std::atomic<int> loads_{0};
  std::atomic<int> entered_{0};
};

ExpiringCredentials Temporary(const std::string& key, std::optional<WallTime> expiration) {
  ExpiringCredentials c;
  c.credentials.access_key_id = key;
  c.credentials.secret_access_key = "secret-" + key;
  c.credentials.session_token = "token-" + key;
  c.expiration = expiration;
  return c;
}

struct ChainUnderTest {
  FakeClock clock;
  FakeSource* first = nullptr;
  FakeSource* second = nullptr;
  std::unique_ptr<CredentialChain> chain;

  ChainUnderTest() {
    auto a = std::make_unique<FakeSource>("first source");
    auto b = std::make_unique<FakeSource>("second source");
    first = a.get();
    second = b.get();
    std::vector<std::unique_ptr<CredentialSource>> sources;
    sources.push_back(std::move(a));
    sources.push_back(std::move(b));
    chain = std::make_unique<CredentialChain>(std::move(sources), clock);
  }
  WallTime In(Duration d) const { return clock.WallNow() + d; }
  std::string Key() const {
    auto c = chain->GetCredentials();
    return c ? c->access_key_id : "error: " + c.error().message;
  }
};

TEST(CredentialChain, FirstSourceWithCredentialsWins) {
  ChainUnderTest t;
  t.first->Answer({std::nullopt});
  t.second->Answer({Temporary("B", std::nullopt)});
  EXPECT_EQ(t.Key(), "B");
  EXPECT_EQ(t.chain->CurrentSource(), "second source");
  EXPECT_EQ(t.Key(), "B");
  EXPECT_EQ(t.first->loads(), 1);
  EXPECT_EQ(t.second->loads(), 1);  // long-term credentials are never refreshed
}

TEST(CredentialChain, FailingSourceStopsTheChain) {
  ChainUnderTest t;
  t.first->Answer({tl::unexpected(Error::Unavailable("first is down"))});
  t.second->Answer({Temporary("B", std::nullopt)});
  auto c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message, "first is down");
  EXPECT_EQ(t.second->loads(), 0);
  // A failed walk is retried by the next call.
  t.first->Answer({std::nullopt});
  EXPECT_EQ(t.Key(), "B");
}

TEST(CredentialChain, NothingFoundListsEverySource) {
  ChainUnderTest t;
  auto c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kAuth);
  EXPECT_EQ(c.error().message,
            "Unable to locate credentials. Looked in, in this order:\n  1. first source\n"
            "  2. second source");
}

TEST(CredentialChain, RefreshesOnlyInsideTheAdvisoryWindow) {
  ChainUnderTest t;
  t.first->Answer({Temporary("A1", t.In(minutes(60))), Temporary("A2", t.In(minutes(120)))});
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(44));  // 16 minutes left: outside the 15-minute window
  EXPECT_EQ(t.Key(), "A1");
  EXPECT_EQ(t.first->loads(), 1);
  t.clock.Advance(minutes(2));  // 14 minutes left
  EXPECT_EQ(t.Key(), "A2");
  EXPECT_EQ(t.first->loads(), 2);
  EXPECT_EQ(t.Key(), "A2");
  EXPECT_EQ(t.first->loads(), 2);
}

TEST(CredentialChain, FailedAdvisoryRefreshKeepsTheCurrentCredentials) {
  ChainUnderTest t;
  t.first->Answer(
      {Temporary("A1", t.In(minutes(60))), tl::unexpected(Error::Unavailable("refresh failed"))});
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(48));  // 12 minutes left: advisory, not mandatory
  EXPECT_EQ(t.Key(), "A1");
  EXPECT_EQ(t.Key(), "A1");
  EXPECT_EQ(t.first->loads(), 3);  // each call tried again
}

TEST(CredentialChain, FailedMandatoryRefreshIsAnError) {
  ChainUnderTest t;
  t.first->Answer(
      {Temporary("A1", t.In(minutes(60))), tl::unexpected(Error::Unavailable("refresh failed"))});
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(51));  // 9 minutes left: mandatory
  auto c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(c.error().message, HasSubstr("refresh failed"));
  // A source that has nothing any more is an error too.
  t.first->Answer({std::nullopt});
  c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("first source no longer has credentials"));
  // And a later success recovers.
  t.first->Answer({Temporary("A2", t.In(minutes(60)))});
  EXPECT_EQ(t.Key(), "A2");
}

TEST(CredentialChain, RefreshedButStillExpiredIsAnError) {
  ChainUnderTest t;
  const WallTime expiry = t.In(minutes(60));
  t.first->Answer({Temporary("A1", expiry)});  // refreshing returns the same credentials
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(61));
  auto c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("refreshed credentials are still expired"));
}

TEST(CredentialChain, AlreadyExpiredCredentialsAreAnError) {
  ChainUnderTest t;
  t.first->Answer({Temporary("A1", t.In(-minutes(1)))});
  auto c = t.chain->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("have already expired"));
}

TEST(CredentialChain, AdvisoryRefreshDoesNotBlockOtherCallers) {
  ChainUnderTest t;
  t.first->Answer({Temporary("A1", t.In(minutes(60))), Temporary("A2", t.In(minutes(120)))});
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(48));
  std::promise<void> release;
  t.first->Hold(release.get_future().share());
  std::thread refresher([&] { EXPECT_EQ(t.Key(), "A2"); });
  while (t.first->entered() < 2) std::this_thread::yield();  // the refresh is in Load
  // Meanwhile other callers get the current credentials at once, without a second load.
  EXPECT_EQ(t.Key(), "A1");
  EXPECT_EQ(t.Key(), "A1");
  EXPECT_EQ(t.first->loads(), 2);
  release.set_value();
  refresher.join();
  EXPECT_EQ(t.Key(), "A2");
  EXPECT_EQ(t.first->loads(), 2);
}

TEST(CredentialChain, MandatoryRefreshMakesCallersWaitForOneLoad) {
  ChainUnderTest t;
  t.first->Answer({Temporary("A1", t.In(minutes(60))), Temporary("A2", t.In(minutes(120)))});
  EXPECT_EQ(t.Key(), "A1");
  t.clock.Advance(minutes(55));
  std::promise<void> release;
  t.first->Hold(release.get_future().share());
  std::thread refresher([&] { EXPECT_EQ(t.Key(), "A2"); });
  while (t.first->entered() < 2) std::this_thread::yield();
  std::vector<std::thread> waiters;
  waiters.reserve(4);
  for (int i = 0; i < 4; ++i) waiters.emplace_back([&] { EXPECT_EQ(t.Key(), "A2"); });
  release.set_value();
  refresher.join();
  for (std::thread& w : waiters) w.join();
  EXPECT_EQ(t.first->loads(), 2);
}

TEST(CredentialChain, ManyThreadsAcrossManyRefreshesAlwaysGetValidCredentials) {
  ChainUnderTest t;
  // Every load returns credentials valid for one more hour than the clock shows.
  struct HourAhead final : CredentialSource {
    explicit HourAhead(Clock& c) : clock(c) {}
    std::string Describe() const override { return "hour ahead"; }
    Result<std::optional<ExpiringCredentials>> Load() override {
      const int n = ++loads;
      return Temporary("K" + std::to_string(n), clock.WallNow() + minutes(60));
    }
    Clock& clock;
    std::atomic<int> loads{0};
  };
  std::vector<std::unique_ptr<CredentialSource>> sources;
  auto source = std::make_unique<HourAhead>(t.clock);
  HourAhead* counter = source.get();
  sources.push_back(std::move(source));
  CredentialChain chain(std::move(sources), t.clock);
  constexpr int kThreads = 8;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::atomic<int64_t>> calls(kThreads);
  std::vector<std::thread> callers;
  callers.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    callers.emplace_back([&, i] {
      while (!stop.load()) {
        // Valid when asked for: the clock moves on while the caller looks at them.
        const WallTime asked = t.clock.WallNow();
        auto c = chain.GetExpiringCredentials();
        if (!c || !c->expiration || *c->expiration <= asked) failures.fetch_add(1);
        calls[i].fetch_add(1);
      }
    });
  }
  for (int step = 0; step < 200; ++step) {
    // Each caller finishes a call between two steps, so no call spans more than one minute of
    // fake time (a caller descheduled for an hour of fake time would see its fresh credentials
    // expire, which is right but not what this test is about).
    std::vector<int64_t> before(kThreads);
    for (int i = 0; i < kThreads; ++i) before[i] = calls[i].load();
    t.clock.Advance(minutes(1));
    for (int i = 0; i < kThreads; ++i) {
      while (calls[i].load() <= before[i] + 1) std::this_thread::yield();
    }
  }
  stop.store(true);
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(failures.load(), 0);
  // One initial load, then at most one per 200 minutes of advisory windows crossed (a refresh at
  // 45 minutes gives another 60): a handful, never one per call.
  EXPECT_GE(counter->loads.load(), 2);
  EXPECT_LE(counter->loads.load(), 210);
}

// --- the default chain: which source wins ---

struct PrecedenceCase {
  const char* name;
  std::vector<std::pair<const char*, const char*>> env;
  const char* config;
  const char* credentials;
  const char* profile;   // --profile; "" = none
  bool with_process;     // add credential_process (key PROC) to the profile's config section
  const char* expected;  // access key id, or "error: <substring>"
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const PrecedenceCase& c, std::ostream* os) { *os << c.name; }

class ChainPrecedence : public CredentialsTest,
                        public ::testing::WithParamInterface<PrecedenceCase> {};

TEST_P(ChainPrecedence, PicksTheSourceBotocoreWould) {
  const PrecedenceCase& c = GetParam();
  for (const auto& [name, value] : c.env) env_.Set(name, value);
  std::string config_text = c.config;
  if (c.with_process) {
    const std::string script =
        Script("process.sh", R"({"Version": 1, "AccessKeyId": "PROC", "SecretAccessKey": "s"})");
    // Into the section the test's profile uses: the first section of the config text.
    const size_t first_line_end = config_text.find('\n');
    config_text.insert(first_line_end + 1, "credential_process = " + script + "\n");
  }
  AwsConfig config = Config(config_text, c.credentials, c.profile);
  auto chain = Chain(config);
  auto credentials = chain->GetCredentials();
  const std::string expected = c.expected;
  if (expected.starts_with("error: ")) {
    ASSERT_FALSE(credentials.has_value()) << "credentials from " << chain->CurrentSource();
    EXPECT_THAT(credentials.error().message, HasSubstr(expected.substr(7)));
  } else {
    ASSERT_TRUE(credentials.has_value()) << credentials.error().message;
    EXPECT_EQ(credentials->access_key_id, expected) << chain->CurrentSource();
  }
}

const std::pair<const char*, const char*> kEnvKeys[] = {{"AWS_ACCESS_KEY_ID", "ENV"},
                                                        {"AWS_SECRET_ACCESS_KEY", "env-secret"}};

INSTANTIATE_TEST_SUITE_P(
    Botocore, ChainPrecedence,
    ::testing::Values(
        PrecedenceCase{"EnvironmentAlone", {kEnvKeys[0], kEnvKeys[1]}, "", "", "", false, "ENV"},
        PrecedenceCase{"SharedCredentialsFileAlone",
                       {},
                       "",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "CREDS"},
        PrecedenceCase{"ProcessAlone", {}, "[default]\n", "", "", true, "PROC"},
        PrecedenceCase{"ConfigFileAlone",
                       {},
                       "[default]\naws_access_key_id = CONF\naws_secret_access_key = s\n",
                       "",
                       "",
                       false,
                       "CONF"},
        PrecedenceCase{"EnvironmentBeatsSharedCredentialsFile",
                       {kEnvKeys[0], kEnvKeys[1]},
                       "",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "ENV"},
        PrecedenceCase{"SharedCredentialsFileBeatsProcess",
                       {},
                       "[default]\n",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       true,
                       "CREDS"},
        PrecedenceCase{"ProcessBeatsConfigFile",
                       {},
                       "[default]\naws_access_key_id = CONF\naws_secret_access_key = s\n",
                       "",
                       "",
                       true,
                       "PROC"},
        PrecedenceCase{"SharedCredentialsFileBeatsConfigFile",
                       {},
                       "[default]\naws_access_key_id = CONF\naws_secret_access_key = s\n",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "CREDS"},
        PrecedenceCase{"ExplicitProfileSkipsEnvironmentKeys",
                       {kEnvKeys[0], kEnvKeys[1]},
                       "",
                       "[dev]\naws_access_key_id = DEV\naws_secret_access_key = s\n",
                       "dev",
                       false,
                       "DEV"},
        PrecedenceCase{"AwsProfileKeepsEnvironmentKeys",
                       {kEnvKeys[0], kEnvKeys[1], {"AWS_PROFILE", "dev"}},
                       "",
                       "[dev]\naws_access_key_id = DEV\naws_secret_access_key = s\n",
                       "",
                       false,
                       "ENV"},
        PrecedenceCase{"AwsProfileSelectsTheSection",
                       {{"AWS_PROFILE", "dev"}},
                       "",
                       "[default]\naws_access_key_id = DEFAULT\naws_secret_access_key = s\n"
                       "[dev]\naws_access_key_id = DEV\naws_secret_access_key = s\n",
                       "",
                       false,
                       "DEV"},
        PrecedenceCase{"ExplicitProfileWithoutCredentialsIgnoresEnvironmentKeys",
                       {kEnvKeys[0], kEnvKeys[1]},
                       "[profile dev]\nregion = us-east-1\n",
                       "",
                       "dev",
                       false,
                       "error: environment variables (skipped: the profile was given explicitly)"},
        PrecedenceCase{"PartialEnvironmentKeysFail",
                       {kEnvKeys[0]},
                       "",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "error: missing: AWS_SECRET_ACCESS_KEY"},
        PrecedenceCase{"PartialFileKeysFail",
                       {},
                       "",
                       "[default]\naws_access_key_id = CREDS\n",
                       "",
                       false,
                       "error: missing: aws_secret_access_key"},
        PrecedenceCase{"SsoProfileIsReportedNotSkipped",
                       {},
                       "[default]\nsso_account_id = 1\nsso_role_name = r\n",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "error: IAM Identity Center (SSO)"},
        PrecedenceCase{"WebIdentityFromEnvironmentIsReported",
                       {{"AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/token"}, {"AWS_ROLE_ARN", "arn"}},
                       "",
                       "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\n",
                       "",
                       false,
                       "error: AssumeRoleWithWebIdentity"},
        PrecedenceCase{"RoleWithBothSourcesFails",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n"
                       "credential_source = Environment\n[profile b]\n",
                       "",
                       "",
                       false,
                       "error: contains both source_profile and credential_source"},
        PrecedenceCase{"RoleWithoutSourceFails",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\n",
                       "",
                       "",
                       false,
                       "error: missing: source_profile or credential_source"},
        PrecedenceCase{"RoleWithMissingSourceProfileFails",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = nope\n",
                       "",
                       "",
                       false,
                       "error: The source_profile \"nope\" referenced in the profile \"default\" "
                       "does not exist."},
        PrecedenceCase{"RoleWithUnknownCredentialSourceFails",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Vault\n",
                       "",
                       "",
                       false,
                       "error: The credential source \"Vault\" referenced in profile \"default\" "
                       "is not valid."},
        PrecedenceCase{"RoleLoopFails",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n"
                       "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = default\n",
                       "",
                       "",
                       false,
                       "error: Infinite loop in profile configuration: default -> a -> default"},
        PrecedenceCase{"RoleWithMfaIsReported",
                       {},
                       "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n"
                       "mfa_serial = arn:aws:iam::1:mfa/u\n[profile b]\n",
                       "",
                       "",
                       false,
                       "error: needs an MFA code"},
        PrecedenceCase{"SourceProfileWithoutCredentialsFails",
                       {kEnvKeys[0], kEnvKeys[1]},
                       "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n"
                       "[profile b]\nregion = us-east-1\n",
                       "",
                       "r",  // explicit, so that the main chain skips the environment keys too
                       false,
                       // The source profile's chain never reads the environment.
                       "error: Unable to locate credentials"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(CredentialsTest, SessionTokensComeFromEitherNameLegacyFirst) {
  env_.Set("AWS_ACCESS_KEY_ID", "AKID")
      .Set("AWS_SECRET_ACCESS_KEY", "s")
      .Set("AWS_SESSION_TOKEN", "session");
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->session_token, "session");
  env_.Set("AWS_SECURITY_TOKEN", "legacy");
  c = Chain(Config(""))->GetCredentials();
  EXPECT_EQ(c->session_token, "legacy");

  Environment clean = env_;
  env_ = Environment();
  env_.Set("AWS_EC2_METADATA_DISABLED", "true")
      .Set("AWS_CONFIG_FILE", clean.Get("AWS_CONFIG_FILE").value_or(""))
      .Set("AWS_SHARED_CREDENTIALS_FILE", clean.Get("AWS_SHARED_CREDENTIALS_FILE").value_or(""));
  c = Chain(Config("",
                   "[default]\naws_access_key_id = A\naws_secret_access_key = s\n"
                   "aws_session_token = file-session\n"))
          ->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->session_token, "file-session");
}

TEST_F(CredentialsTest, EnvironmentExpirationMakesTheKeysTemporary) {
  env_.Set("AWS_ACCESS_KEY_ID", "AKID")
      .Set("AWS_SECRET_ACCESS_KEY", "s")
      .Set("AWS_CREDENTIAL_EXPIRATION", "2025-01-01T01:00:00Z");
  auto chain = Chain(Config(""));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->expiration, ParseIso8601("2025-01-01T01:00:00Z"));
  // The environment cannot give newer keys: past expiry, refreshing fails.
  clock_.Advance(minutes(61));
  auto expired = chain->GetCredentials();
  ASSERT_FALSE(expired.has_value());
  EXPECT_THAT(expired.error().message, HasSubstr("still expired"));
}

TEST_F(CredentialsTest, NoCredentialsErrorListsWhereItLooked) {
  AwsConfig config = Config("[default]\nregion = us-east-1\n");
  auto c = Chain(config)->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kAuth);
  const std::string config_file = (dir_.path() / "config").string();
  const std::string credentials_file = (dir_.path() / "credentials").string();
  EXPECT_EQ(c.error().message,
            "Unable to locate credentials. Looked in, in this order:\n"
            "  1. environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)\n"
            "  2. role_arn of profile default\n"
            "  3. web identity and SSO settings of profile default\n"
            "  4. shared credentials file " +
                credentials_file +
                ", profile [default]\n"
                "  5. login_session of profile default\n"
                "  6. credential_process of profile default\n"
                "  7. shared config file " +
                config_file +
                ", profile default\n"
                "  8. container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or "
                "AWS_CONTAINER_CREDENTIALS_FULL_URI)\n"
                "  9. EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
}

// --- credential_process ---

TEST_F(CredentialsTest, ProcessCredentialsRefreshBeforeTheyExpire) {
  // Each run prints the next key and an expiry one hour later than the last.
  const std::string counter = (dir_.path() / "counter").string();
  const std::string script = dir_.Write(
      "proc.sh",
      "#!/bin/sh\nn=$(( $(cat " + counter + " 2>/dev/null || echo 0) + 1 ))\necho $n > " + counter +
          "\nprintf '{\"Version\": 1, \"AccessKeyId\": \"P%s\", \"SecretAccessKey\": \"s\", "
          "\"SessionToken\": \"t\", \"Expiration\": \"2025-01-01T0%s:00:00Z\"}' $n $n\n",
      /*executable=*/true);
  auto chain = Chain(Config("[default]\ncredential_process = " + script + "\n"));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->credentials.access_key_id, "P1");
  EXPECT_EQ(c->credentials.session_token, "t");
  EXPECT_EQ(c->expiration, ParseIso8601("2025-01-01T01:00:00Z"));
  clock_.Advance(minutes(44));
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "P1");
  clock_.Advance(minutes(2));
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "P2");
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "P2");
}

TEST_F(CredentialsTest, ProcessCommandLineIsSplitLikeAShell) {
  const std::string script =
      dir_.Write("dir with space/proc.sh",
                 "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", "
                 "\"SecretAccessKey\": \"s\"}' \"$1\"\n",
                 /*executable=*/true);
  auto c = Chain(Config("[default]\ncredential_process = \"" + script + "\" 'AK ID'\n"))
               ->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AK ID");
  EXPECT_EQ(c->session_token, "");
}

TEST_F(CredentialsTest, ProcessFromPathAndFromTheCredentialsFile) {
  dir_.Write("bin/qf-creds",
             "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"PATH\", \"SecretAccessKey\": "
             "\"s\"}'\n",
             /*executable=*/true);
  env_.Set("PATH", (dir_.path() / "bin").string() + ":" + env_.Get("PATH").value_or(""));
  // botocore merges the credentials file into the profile, so credential_process works there.
  auto c = Chain(Config("", "[default]\ncredential_process = qf-creds\n"))->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "PATH");
}

struct ProcessFailure {
  const char* name;
  const char* stdout_text;
  int exit_status;
  const char* stderr_text;
  const char* message;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const ProcessFailure& c, std::ostream* os) { *os << c.name; }

class ProcessFailures : public CredentialsTest,
                        public ::testing::WithParamInterface<ProcessFailure> {};

TEST_P(ProcessFailures, AreReportedWithoutTheirOutput) {
  const ProcessFailure& f = GetParam();
  const std::string script = Script("proc.sh", f.stdout_text, f.exit_status,
                                    std::string("echo '") + f.stderr_text + "' >&2\n");
  auto c = Chain(Config("[default]\ncredential_process = " + script + "\n"))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kAuth);
  EXPECT_THAT(c.error().message, StartsWith("credential_process of profile default"));
  EXPECT_THAT(c.error().message, HasSubstr(f.message));
  EXPECT_THAT(c.error().ToString(), Not(HasSubstr("TOPSECRET")));
}

INSTANTIATE_TEST_SUITE_P(
    All, ProcessFailures,
    ::testing::Values(
        ProcessFailure{"ExitStatus",
                       R"({"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "TOPSECRET"})", 1,
                       "session expired, run login", "exit status 1: session expired, run login"},
        ProcessFailure{"NotJson", "TOPSECRET is not json", 0, "", "did not print a JSON object"},
        ProcessFailure{"WrongVersion",
                       R"({"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "TOPSECRET"})", 0,
                       "", "unsupported Version"},
        ProcessFailure{"VersionAsString",
                       R"({"Version": "1", "AccessKeyId": "A", "SecretAccessKey": "TOPSECRET"})", 0,
                       "", "unsupported Version"},
        ProcessFailure{"MissingSecret", R"({"Version": 1, "AccessKeyId": "TOPSECRET"})", 0, "",
                       "Missing required key in response: SecretAccessKey"},
        ProcessFailure{"BadExpiration",
                       R"({"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "TOPSECRET",
                           "Expiration": "tomorrow"})",
                       0, "", "Expiration in response is not an ISO 8601 time"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(CredentialsTest, ProcessThatHangsIsKilled) {
  options_.process_timeout = milliseconds(200);
  const std::string script = dir_.Write("hang.sh", "#!/bin/sh\nexec sleep 30\n", true);
  const auto start = std::chrono::steady_clock::now();
  auto c = Chain(Config("[default]\ncredential_process = " + script + "\n"))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("did not finish within"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
}

TEST_F(CredentialsTest, ProcessThatDoesNotExistIsReported) {
  auto c = Chain(Config("[default]\ncredential_process = /nonexistent/qf-creds --secret-arg\n"))
               ->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("cannot run /nonexistent/qf-creds"));
  EXPECT_THAT(c.error().message, Not(HasSubstr("--secret-arg")));
  c = Chain(Config("[default]\ncredential_process = qf-no-such-command\n"))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("command not found: qf-no-such-command"));
}

// --- container credentials ---

TEST_F(CredentialsTest, ContainerFullUriWithAuthorizationToken) {
  QF_START_METADATA_SERVER(server, "--container-auth", "Bearer tok-1");
  env_.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server->Url("/container/creds"))
      .Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer tok-1");
  auto chain = Chain(Config(""));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->credentials.access_key_id, "ASIAFAKE1");
  EXPECT_EQ(c->credentials.secret_access_key, "fake-secret-1");
  EXPECT_EQ(c->credentials.session_token, "fake-session-token-1");
  EXPECT_EQ(c->expiration, ParseIso8601("2025-01-01T01:00:00Z"));
  EXPECT_THAT(chain->CurrentSource(), HasSubstr("container credentials"));
}

TEST_F(CredentialsTest, ContainerRelativeUriAndTokenFileReReadOnRefresh) {
  QF_START_METADATA_SERVER(server);
  options_.container_base_url = server->Url();  // stands in for http://169.254.170.2
  const std::string token_file = dir_.Write("token", "token-one");
  env_.Set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/container/v2/credentials/abc")
      .Set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file)
      .Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored: the file wins");
  auto chain = Chain(Config(""));
  ASSERT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE1");
  EXPECT_EQ(server->Stats(http_).at("last_authorization"), "token-one");
  dir_.Write("token", "token-two");  // the agent rotated it
  clock_.Advance(minutes(50));
  ASSERT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE2");
  EXPECT_EQ(server->Stats(http_).at("last_authorization"), "token-two");
}

TEST_F(CredentialsTest, ContainerCredentialsRefreshOnlyInsideTheAdvisoryWindow) {
  QF_START_METADATA_SERVER(server);
  env_.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server->Url("/container/creds"));
  auto chain = Chain(Config(""));
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE1");  // expires 01:00
  clock_.Advance(minutes(44));
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE1");
  EXPECT_EQ(server->Count(http_, "container"), 1);
  clock_.Advance(minutes(2));                                      // 14 minutes left
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE2");  // expires 02:00
  clock_.Advance(minutes(10));
  EXPECT_EQ(chain->GetCredentials()->access_key_id, "ASIAFAKE2");
  EXPECT_EQ(server->Count(http_, "container"), 2);
}

TEST_F(CredentialsTest, ContainerFullUriMustBeLocalOrHttps) {
  env_.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.169.254.example.com/creds");
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message,
              HasSubstr("Unsupported host in AWS_CONTAINER_CREDENTIALS_FULL_URI"));
}

TEST_F(CredentialsTest, ContainerTokenWithALineBreakIsRejected) {
  env_.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds")
      .Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "TOPSECRET\r\nX-Injected: 1");
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("not a legal header value"));
  EXPECT_THAT(c.error().message, Not(HasSubstr("TOPSECRET")));
}

TEST_F(CredentialsTest, ContainerServerErrorIsRetriedThenReported) {
  QF_START_METADATA_SERVER(server, "--container-status", "500", "--container-body",
                           "TOPSECRET in an error page");
  env_.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server->Url("/container/creds"));
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(c.error().retryable);
  EXPECT_THAT(c.error().message, HasSubstr("returned HTTP 500"));
  EXPECT_EQ(server->Count(http_, "container"), 3);  // botocore's three attempts
}

// --- EC2 instance metadata ---

TEST_F(CredentialsTest, ImdsV2FetchesTokenRoleAndCredentials) {
  QF_START_METADATA_SERVER(server, "--imds-role", "my-role");
  env_.Unset("AWS_EC2_METADATA_DISABLED").Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server->Url());
  auto chain = Chain(Config(""));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->credentials.access_key_id, "ASIAFAKE1");
  EXPECT_EQ(c->credentials.session_token, "fake-session-token-1");
  EXPECT_EQ(c->expiration, ParseIso8601("2025-01-01T01:00:00Z"));
  EXPECT_EQ(chain->CurrentSource(), "EC2 instance metadata at " + server->Url());
  const boost::json::object stats = server->Stats(http_);
  EXPECT_EQ(stats.at("last_imds_token"), "imds-session-token-1");
  EXPECT_EQ(stats.at("counts").at("imds_token"), 1);
  EXPECT_EQ(stats.at("counts").at("imds_role"), 1);
  EXPECT_EQ(stats.at("counts").at("imds_creds"), 1);
}

TEST_F(CredentialsTest, ImdsFallsBackToV1WhenTokensAreRefused) {
  QF_START_METADATA_SERVER(server, "--imds-token-status", "403", "--imds-allow-v1");
  env_.Unset("AWS_EC2_METADATA_DISABLED").Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server->Url());
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "ASIAFAKE1");
  EXPECT_TRUE(server->Stats(http_).at("last_imds_token").is_null());

  env_.Set("AWS_EC2_METADATA_V1_DISABLED", "true");
  c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("IMDSv1 has been disabled"));
}

TEST_F(CredentialsTest, ImdsDisabledIsNeverContacted) {
  QF_START_METADATA_SERVER(server);
  env_.Set("AWS_EC2_METADATA_DISABLED", "TRUE")
      .Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server->Url());
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("disabled by AWS_EC2_METADATA_DISABLED"));
  EXPECT_EQ(server->Count(http_, "imds_token"), 0);
}

TEST_F(CredentialsTest, ImdsFailuresMeanNoCredentialsNotAnError) {
  QF_START_METADATA_SERVER(server, "--imds-creds-status", "500", "--imds-creds-body", "TOPSECRET");
  env_.Unset("AWS_EC2_METADATA_DISABLED").Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server->Url());
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, StartsWith("Unable to locate credentials"));
  EXPECT_THAT(c.error().message, HasSubstr("EC2 instance metadata at " + server->Url()));
  EXPECT_THAT(c.error().message, Not(HasSubstr("TOPSECRET")));
}

TEST_F(CredentialsTest, UnreachableImdsFailsFast) {
  ClosedPort closed;
  env_.Unset("AWS_EC2_METADATA_DISABLED")
      .Set("AWS_EC2_METADATA_SERVICE_ENDPOINT",
           "http://127.0.0.1:" + std::to_string(closed.port()));
  const auto start = std::chrono::steady_clock::now();
  auto c = Chain(Config(""))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, StartsWith("Unable to locate credentials"));
  // One refused connection, no v1 retry: well under the second a timeout would take.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST_F(CredentialsTest, StaleImdsCredentialsAreExtendedNotRefetchedOnEveryCall) {
  // IMDS keeps serving credentials that expired an hour ago (its own refresh is failing).
  QF_START_METADATA_SERVER(server, "--expiration", "2024-12-31T23:00:00Z", "--expiration-step",
                           "0");
  env_.Unset("AWS_EC2_METADATA_DISABLED").Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server->Url());
  auto chain = Chain(Config(""));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  // Valid for the refresh window plus 2-10 minutes of jitter.
  ASSERT_TRUE(c->expiration.has_value());
  const Duration valid_for = c->expiration.value_or(WallTime()) - clock_.WallNow();
  EXPECT_GE(valid_for, minutes(17));
  EXPECT_LE(valid_for, minutes(25));
  EXPECT_TRUE(chain->GetCredentials().has_value());
  EXPECT_EQ(server->Count(http_, "imds_creds"), 1);
}

// --- STS AssumeRole ---

constexpr const char* kRoleConfig =
    "[profile base]\nregion = us-east-1\n"
    "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/quotaflow-test\n"
    "source_profile = base\nrole_session_name = qf-test\nexternal_id = ext-1\n"
    "duration_seconds = 3600\n"
    "[profile chained]\nrole_arn = arn:aws:iam::123456789012:role/second\nsource_profile = role\n"
    "[profile from-env]\nrole_arn = arn:aws:iam::123456789012:role/env\n"
    "credential_source = Environment\n";
constexpr const char* kBaseKeys =
    "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n";

TEST_F(CredentialsTest, AssumeRoleThroughSts) {
  QF_REQUIRE_MOTO(moto);
  env_.Set("AWS_ENDPOINT_URL_STS", moto.url);
  AwsConfig config = Config(kRoleConfig, kBaseKeys, "role");
  // moto dates its credentials by the real clock.
  auto chain = MakeDefaultCredentialChain(config, env_, http_, SystemClock(), options_);
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_THAT(c->credentials.access_key_id, StartsWith("ASIA"));
  EXPECT_FALSE(c->credentials.secret_access_key.empty());
  EXPECT_FALSE(c->credentials.session_token.empty());
  EXPECT_GT(c->expiration.value_or(WallTime()), SystemClock().WallNow());
  EXPECT_EQ(chain->CurrentSource(),
            "AssumeRole arn:aws:iam::123456789012:role/quotaflow-test (role_arn of profile role)");
  // Cached: the same credentials again, no second STS call needed.
  EXPECT_EQ(chain->GetCredentials()->access_key_id, c->credentials.access_key_id);
}

TEST_F(CredentialsTest, AssumeRoleBeatsKeysInTheSameProfile) {
  QF_REQUIRE_MOTO(moto);
  env_.Set("AWS_ENDPOINT_URL_STS", moto.url);
  AwsConfig config = Config(
      kRoleConfig,
      std::string(kBaseKeys) + "[role]\naws_access_key_id = AKIAROLE\naws_secret_access_key = s\n",
      "role");
  auto c =
      MakeDefaultCredentialChain(config, env_, http_, SystemClock(), options_)->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_THAT(c->access_key_id, StartsWith("ASIA"));
}

TEST_F(CredentialsTest, AssumeRoleChainsAndNamedSources) {
  QF_REQUIRE_MOTO(moto);
  env_.Set("AWS_ENDPOINT_URL_STS", moto.url);
  auto chained = MakeDefaultCredentialChain(Config(kRoleConfig, kBaseKeys, "chained"), env_, http_,
                                            SystemClock(), options_)
                     ->GetCredentials();
  ASSERT_TRUE(chained.has_value()) << chained.error().message;
  EXPECT_THAT(chained->access_key_id, StartsWith("ASIA"));

  env_.Set("AWS_ACCESS_KEY_ID", "AKIAENV").Set("AWS_SECRET_ACCESS_KEY", "env-secret");
  // Even with --profile, credential_source = Environment reads the environment keys.
  auto chain = MakeDefaultCredentialChain(Config(kRoleConfig, kBaseKeys, "from-env"), env_, http_,
                                          SystemClock(), options_);
  auto from_env = chain->GetCredentials();
  ASSERT_TRUE(from_env.has_value()) << from_env.error().message;
  EXPECT_THAT(from_env->access_key_id, StartsWith("ASIA"));
  EXPECT_THAT(chain->CurrentSource(), HasSubstr("role/env"));
}

struct StsFailure {
  const char* name;
  const char* status;
  const char* body;
  ErrorCode code;
  const char* message;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const StsFailure& c, std::ostream* os) { *os << c.name; }

class StsFailures : public CredentialsTest, public ::testing::WithParamInterface<StsFailure> {};

TEST_P(StsFailures, AreReportedWithoutSecrets) {
  const StsFailure& f = GetParam();
  QF_START_METADATA_SERVER(server, "--sts-status", f.status, "--sts-body", f.body);
  env_.Set("AWS_ENDPOINT_URL_STS", server->Url("/sts"));
  auto c = Chain(Config(kRoleConfig, kBaseKeys, "role"))->GetCredentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, f.code);
  EXPECT_THAT(c.error().message,
              StartsWith("AssumeRole arn:aws:iam::123456789012:role/quotaflow-test for profile "
                         "role: "));
  EXPECT_THAT(c.error().message, HasSubstr(f.message));
  EXPECT_THAT(c.error().ToString(),
              AllOf(Not(HasSubstr("TOPSECRET")), Not(HasSubstr("base-secret"))));
}

INSTANTIATE_TEST_SUITE_P(
    All, StsFailures,
    ::testing::Values(
        StsFailure{"AccessDenied", "403",
                   "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                   "<Message>User is not authorized to perform sts:AssumeRole</Message></Error>"
                   "<RequestId>req-1</RequestId></ErrorResponse>",
                   ErrorCode::kAuth,
                   "STS returned HTTP 403 AccessDenied: User is not authorized to perform "
                   "sts:AssumeRole"},
        StsFailure{"ServerError", "500", "TOPSECRET internal", ErrorCode::kUnavailable,
                   "STS returned HTTP 500"},
        StsFailure{"TruncatedXml", "200",
                   "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1"
                   "</AccessKeyId><SecretAccessKey>TOPSECRET",
                   ErrorCode::kAuth, "has no complete Credentials element"},
        StsFailure{"NotXml", "200", "TOPSECRET", ErrorCode::kAuth,
                   "has no complete Credentials element"},
        StsFailure{"BadExpiration", "200",
                   "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1"
                   "</AccessKeyId><SecretAccessKey>TOPSECRET</SecretAccessKey><SessionToken>t"
                   "</SessionToken><Expiration>later</Expiration></Credentials>"
                   "</AssumeRoleResult></AssumeRoleResponse>",
                   ErrorCode::kAuth, "the STS Expiration is not an ISO 8601 time"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(CredentialsTest, AssumeRoleRequestIsSignedQueryProtocol) {
  // A well-formed reply with entities, to check the XML reading, from the canned STS.
  QF_START_METADATA_SERVER(
      server, "--sts-body",
      "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
      "<Credentials><AccessKeyId>ASIASTS</AccessKeyId><SecretAccessKey>a&amp;b&#x2F;c"
      "</SecretAccessKey><SessionToken>tok&lt;1&gt;</SessionToken>"
      "<Expiration>2025-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult>"
      "</AssumeRoleResponse>");
  env_.Set("AWS_ENDPOINT_URL_STS", server->Url("/sts"));
  auto chain = Chain(Config(kRoleConfig, kBaseKeys, "role"));
  auto c = chain->GetExpiringCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->credentials.access_key_id, "ASIASTS");
  EXPECT_EQ(c->credentials.secret_access_key, "a&b/c");
  EXPECT_EQ(c->credentials.session_token, "tok<1>");
  EXPECT_EQ(c->expiration, ParseIso8601("2025-01-01T01:00:00Z"));
  const boost::json::object stats = server->Stats(http_);
  // Exactly what botocore 1.43 sends for this profile (captured).
  EXPECT_EQ(stats.at("last_body"),
            "Action=AssumeRole&Version=2011-06-15&RoleSessionName=qf-test&ExternalId=ext-1&"
            "DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fquotaflow-"
            "test");
  const std::string authorization(stats.at("last_authorization").as_string());
  EXPECT_THAT(authorization, StartsWith("AWS4-HMAC-SHA256 Credential=AKIABASE/20250101/us-east-1/"
                                        "sts/aws4_request, SignedHeaders=content-type;host;"
                                        "x-amz-date, Signature="));
  // The assumed role refreshes through STS like any temporary credentials.
  clock_.Advance(minutes(50));
  EXPECT_TRUE(chain->GetCredentials().has_value());
  EXPECT_EQ(server->Count(http_, "sts"), 2);
}

TEST_F(CredentialsTest, AssumeRoleWithoutSessionNameGeneratesOneAndChains) {
  QF_START_METADATA_SERVER(
      server, "--sts-body",
      "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIASTS</AccessKeyId>"
      "<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"
      "<Expiration>2025-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult>"
      "</AssumeRoleResponse>");
  env_.Set("AWS_ENDPOINT_URL_STS", server->Url("/sts"));
  // "chained" assumes role/second with the credentials of "role", itself assumed from "base".
  auto c = Chain(Config(kRoleConfig, kBaseKeys, "chained"))->GetCredentials();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const boost::json::object stats = server->Stats(http_);
  EXPECT_EQ(stats.at("counts").at("sts"), 2);
  EXPECT_EQ(stats.at("last_body"),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole"
            "%2Fsecond&RoleSessionName=quotaflow-session-1735689600");
  // Signed with the first role's (temporary) credentials.
  EXPECT_THAT(std::string(stats.at("last_authorization").as_string()),
              StartsWith("AWS4-HMAC-SHA256 Credential=ASIASTS/"));
}

// --- secrets never leak ---

TEST_F(CredentialsTest, DescriptionsNeverContainSecrets) {
  env_.Set("AWS_ACCESS_KEY_ID", "AKIAENV")
      .Set("AWS_SECRET_ACCESS_KEY", "TOPSECRET-env")
      .Set("AWS_SESSION_TOKEN", "TOPSECRET-token")
      .Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds")
      .Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "TOPSECRET-container");
  AwsConfig config =
      Config("[default]\naws_access_key_id = A\naws_secret_access_key = TOPSECRET-config\n",
             "[default]\naws_access_key_id = A\naws_secret_access_key = TOPSECRET-credentials\n");
  auto chain = Chain(config);
  ASSERT_TRUE(chain->GetCredentials().has_value());
  for (const std::string& description : chain->DescribeSources()) {
    EXPECT_THAT(description, Not(HasSubstr("TOPSECRET"))) << description;
  }
  EXPECT_THAT(chain->CurrentSource(), Not(HasSubstr("TOPSECRET")));
}

// --- auth scheme: bearer token or SigV4 ---

struct AuthCase {
  const char* name;
  Service service;
  std::vector<std::pair<const char*, const char*>> env;
  const char* profile_preference;  // auth_scheme_preference in the profile; "" = none
  AuthSettings in_code;
  const char* expected;  // "bearer:<token>", "sigv4" or "error: <substring>"
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const AuthCase& c, std::ostream* os) { *os << c.name; }

class AuthSchemeSelection : public ::testing::TestWithParam<AuthCase> {};

TEST_P(AuthSchemeSelection, MatchesBotocore) {
  const AuthCase& c = GetParam();
  Environment env;
  for (const auto& [name, value] : c.env) env.Set(name, value);
  std::string config_text = "[default]\n";
  if (*c.profile_preference != '\0') {
    config_text += "auth_scheme_preference = " + std::string(c.profile_preference) + "\n";
  }
  auto files = ParseSharedConfig(config_text, "");
  ASSERT_TRUE(files.has_value());
  auto config = ResolveAwsConfig(std::move(*files), env);
  ASSERT_TRUE(config.has_value());
  auto provider = std::make_shared<StaticCredentialsProvider>(Credentials{"AKID", "s", ""});
  auto auth = ResolveServiceAuth(c.service, *config, env, provider, c.in_code);
  const std::string expected = c.expected;
  if (expected.starts_with("error: ")) {
    ASSERT_FALSE(auth.has_value());
    EXPECT_EQ(auth.error().code, ErrorCode::kAuth);
    EXPECT_THAT(auth.error().message, HasSubstr(expected.substr(7)));
    return;
  }
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  if (expected == "sigv4") {
    EXPECT_EQ(auth->scheme, AuthScheme::kSigV4);
    EXPECT_EQ(auth->credentials, provider);
    EXPECT_EQ(auth->bearer_token, "");
  } else {
    EXPECT_EQ(auth->scheme, AuthScheme::kBearer);
    EXPECT_EQ("bearer:" + auth->bearer_token, expected);
    EXPECT_EQ(auth->bearer_token_source, "AWS_BEARER_TOKEN_BEDROCK");
  }
}

AuthSettings Preference(const char* preference) {
  AuthSettings settings;
  settings.auth_scheme_preference = preference;
  return settings;
}

AuthSettings ForceSigV4() {
  AuthSettings settings;
  settings.force_sigv4 = true;
  return settings;
}

const std::pair<const char*, const char*> kToken = {"AWS_BEARER_TOKEN_BEDROCK", "ABSKtoken"};

// Each expectation was checked against botocore 1.43 by capturing the Authorization header.
INSTANTIATE_TEST_SUITE_P(
    Botocore, AuthSchemeSelection,
    ::testing::Values(
        AuthCase{"TokenSelectsBearerForRuntime",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 {},
                 "bearer:ABSKtoken"},
        AuthCase{"TokenSelectsBearerForControlPlane",
                 Service::kBedrock,
                 {kToken},
                 "",
                 {},
                 "bearer:ABSKtoken"},
        AuthCase{"NoTokenMeansSigV4", Service::kBedrockRuntime, {}, "", {}, "sigv4"},
        AuthCase{"EmptyTokenStillSelectsBearer",
                 Service::kBedrockRuntime,
                 {{"AWS_BEARER_TOKEN_BEDROCK", ""}},
                 "",
                 {},
                 "bearer:"},
        AuthCase{"EnvironmentPreferenceCannotStopTheToken",
                 Service::kBedrockRuntime,
                 {kToken, {"AWS_AUTH_SCHEME_PREFERENCE", "sigv4"}},
                 "",
                 {},
                 "bearer:ABSKtoken"},
        AuthCase{"ProfilePreferenceCannotStopTheToken",
                 Service::kBedrockRuntime,
                 {kToken},
                 "sigv4",
                 {},
                 "bearer:ABSKtoken"},
        AuthCase{"PreferenceInCodeStopsTheToken",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 Preference("sigv4"),
                 "sigv4"},
        AuthCase{"BearerPreferenceInCodeUsesTheToken",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 Preference("httpBearerAuth"),
                 "bearer:ABSKtoken"},
        AuthCase{"UnsupportedSchemesAreSkipped",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 Preference("sigv4a, httpBearerAuth"),
                 "bearer:ABSKtoken"},
        AuthCase{"UnknownPreferenceFallsBackToTheModelOrder",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 Preference("foo"),
                 "sigv4"},
        AuthCase{"SignatureVersionInCodeStopsTheToken",
                 Service::kBedrockRuntime,
                 {kToken},
                 "",
                 ForceSigV4(),
                 "sigv4"},
        AuthCase{"BearerPreferenceWithoutTokenFails",
                 Service::kBedrockRuntime,
                 {},
                 "",
                 Preference("httpBearerAuth"),
                 "error: Unable to locate authorization token"},
        AuthCase{"EnvironmentBearerPreferenceWithoutTokenFails",
                 Service::kBedrockRuntime,
                 {{"AWS_AUTH_SCHEME_PREFERENCE", "httpBearerAuth"}},
                 "",
                 {},
                 "error: AWS_BEARER_TOKEN_BEDROCK is not set"},
        AuthCase{"RuntimeNamedVariableIsNotRead",
                 Service::kBedrockRuntime,
                 {{"AWS_BEARER_TOKEN_BEDROCK_RUNTIME", "x"}},
                 "",
                 {},
                 "sigv4"},
        AuthCase{"OtherServicesIgnoreTheToken", Service::kServiceQuotas, {kToken}, "", {}, "sigv4"},
        AuthCase{"StsIgnoresTheToken",
                 Service::kSts,
                 {kToken},
                 "",
                 Preference("httpBearerAuth"),
                 "sigv4"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(BearerTokenVariable, IsBotocoresName) {
  EXPECT_EQ(BearerTokenVariable("bedrock"), "AWS_BEARER_TOKEN_BEDROCK");
  EXPECT_EQ(BearerTokenVariable("bedrock-runtime"), "AWS_BEARER_TOKEN_BEDROCK_RUNTIME");
  EXPECT_EQ(BearerTokenVariable("my service"), "AWS_BEARER_TOKEN_MY_SERVICE");
}

}  // namespace
}  // namespace quotaflow::aws
