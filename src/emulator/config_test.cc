#include "emulator/config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "aws/test_process.h"
#include "quotaflow/duration_text.h"

namespace quotaflow::emulator {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Optional(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : "unset";
}

std::string Dump(const PathQuota& quota) {
  return std::to_string(quota.tokens_per_minute) + " " + std::to_string(quota.requests_per_minute) +
         " " + std::to_string(quota.max_concurrency) + " " + Optional(quota.tokens_per_day);
}

// Every field of the options, one per line: the structs have no operator==, and a line-by-line
// string makes a mismatch read as a diff.
std::string Dump(const EmulatorOptions& o) {
  std::ostringstream out;
  out << "seed " << o.seed << "\nmodel_catalog " << o.model_catalog << "\nserver "
      << o.server.address << " " << o.server.port << " " << o.server.threads << " "
      << FormatDuration(o.server.idle_timeout) << "\n";
  for (const Credential& c : o.auth.credentials) {
    out << "credential " << c.access_key_id << " " << c.secret_access_key << "\n";
  }
  for (const std::string& key : o.auth.bearer_keys) out << "bearer " << key << "\n";
  out << "auth " << FormatDuration(o.auth.max_clock_skew) << " " << o.auth.default_region << "\n"
      << "books " << CountingModeName(o.quotas.books.mode) << " "
      << FormatDuration(o.quotas.books.period) << "\n"
      << "on_demand " << Dump(o.quotas.on_demand) << "\ncross_region "
      << Dump(o.quotas.cross_region) << "\nglobal " << Dump(o.quotas.global) << "\n";
  for (const QuotaOverride& q : o.quotas.overrides) {
    out << "override " << q.region << " " << q.model << " " << Optional(q.tokens_per_minute) << " "
        << Optional(q.requests_per_minute) << " " << Optional(q.max_concurrency) << " "
        << Optional(q.tokens_per_day) << "\n";
  }
  out << "service_quotas " << static_cast<int>(o.service_quotas.policy) << " "
      << FormatDuration(o.service_quotas.decide_after) << "\noutput "
      << static_cast<int>(o.output.distribution) << " " << o.output.mean << " " << o.output.stddev
      << " " << o.output.min << " " << o.output.max << "\nlatency "
      << FormatDuration(o.latency.time_to_first_token) << " "
      << FormatDuration(o.latency.per_output_token) << " " << FormatDuration(o.latency.jitter)
      << "\nfaults " << o.faults.internal_error << " " << o.faults.service_unavailable << " "
      << o.faults.model_timeout << " " << o.faults.model_not_ready << " "
      << o.faults.connection_reset << " " << o.faults.stalled_response << " "
      << o.faults.stream_throttle << " " << o.faults.regions.size() << " "
      << FormatDuration(o.faults.start_after) << "\n";
  for (const ApplicationProfileOptions& a : o.application_profiles) {
    out << "application_profile " << a.id << " [" << a.name << "] [" << a.description << "] "
        << a.copy_from << " [" << a.region << "]\n";
  }
  return out.str();
}

EmulatorOptions ParseOk(std::string_view text) {
  Result<EmulatorOptions> options = ParseEmulatorConfig(text, "test.toml");
  if (!options) {
    ADD_FAILURE() << options.error().message;
    return {};
  }
  return std::move(*options);
}

TEST(EmulatorConfig, EmptyDocumentKeepsEveryDefault) {
  const EmulatorOptions defaults;
  const std::string expected = Dump(defaults);
  EXPECT_EQ(Dump(ParseOk("")), expected);
  EXPECT_EQ(Dump(ParseOk("# nothing\n\n[server]\n[faults]\n")), expected);
}

// The example documents the defaults: if options.h changes a default, this fails until the
// example (and so the documentation) says the same.
TEST(EmulatorConfig, ExampleFileSpellsOutTheDefaults) {
  const std::string path = QUOTAFLOW_SOURCE_DIR "/docs/emulator.example.toml";
  Result<EmulatorOptions> options = LoadEmulatorConfig(path);
  ASSERT_TRUE(options.has_value()) << options.error().message;

  EmulatorOptions expected;
  QuotaOverride example;
  example.region = "us-west-2";
  example.model = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  example.tokens_per_minute = 200'000;
  example.max_concurrency = 20;
  expected.quotas.overrides.push_back(example);
  ApplicationProfileOptions profile;
  profile.id = "abc123";
  profile.name = "contracts-team";
  profile.copy_from = "us.amazon.nova-lite-v1:0";
  expected.application_profiles.push_back(profile);
  EXPECT_EQ(Dump(*options), Dump(expected));
}

TEST(EmulatorConfig, TopLevelKeys) {
  EmulatorOptions o = ParseOk("seed = 42\nmodel_catalog = \"/tmp/models.json\"\n");
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.model_catalog, "/tmp/models.json");
}

TEST(EmulatorConfig, ServerSection) {
  EmulatorOptions o = ParseOk(R"([server]
address = "0.0.0.0"
port = 0
threads = 4
idle_timeout = "1m30s"
)");
  EXPECT_EQ(o.server.address, "0.0.0.0");
  EXPECT_EQ(o.server.port, 0);
  EXPECT_EQ(o.server.threads, 4);
  EXPECT_EQ(o.server.idle_timeout, seconds(90));

  EXPECT_EQ(ParseOk("[server]\nport = 65535\n").server.port, 65535);
  // A key left out keeps its default even when its neighbours are set.
  EXPECT_EQ(ParseOk("[server]\nthreads = 2\n").server.port, 8970);
}

TEST(EmulatorConfig, AuthSectionReplacesTheDefaultKeys) {
  EmulatorOptions o = ParseOk(R"([auth]
max_clock_skew = "30s"
default_region = "eu-west-1"
bearer_keys = ["key-a", "key-b"]

[[auth.credentials]]
access_key_id = "AKIA1"
secret_access_key = "secret1"

[[auth.credentials]]
access_key_id = "AKIA2"
secret_access_key = "secret2"
)");
  EXPECT_EQ(o.auth.max_clock_skew, seconds(30));
  EXPECT_EQ(o.auth.default_region, "eu-west-1");
  EXPECT_EQ(o.auth.bearer_keys, (std::vector<std::string>{"key-a", "key-b"}));
  ASSERT_EQ(o.auth.credentials.size(), 2u);
  EXPECT_EQ(o.auth.credentials[0].access_key_id, "AKIA1");
  EXPECT_EQ(o.auth.credentials[0].secret_access_key, "secret1");
  EXPECT_EQ(o.auth.credentials[1].access_key_id, "AKIA2");
  EXPECT_EQ(o.auth.credentials[1].secret_access_key, "secret2");
}

TEST(EmulatorConfig, EmptyListsDisableAnAuthScheme) {
  EmulatorOptions o = ParseOk("[auth]\nbearer_keys = []\ncredentials = []\n");
  EXPECT_TRUE(o.auth.bearer_keys.empty());
  EXPECT_TRUE(o.auth.credentials.empty());

  // Setting only the bearer keys leaves the default SigV4 pair in place, and the other way round.
  o = ParseOk("[auth]\nbearer_keys = []\n");
  ASSERT_EQ(o.auth.credentials.size(), 1u);
  EXPECT_EQ(o.auth.credentials[0].access_key_id, kDefaultAccessKeyId);
}

TEST(EmulatorConfig, QuotasSection) {
  EmulatorOptions o = ParseOk(R"([quotas]
mode = "sliding_window"
period = "6s"

[quotas.on_demand]
tokens_per_minute = 1_000
requests_per_minute = 10
max_concurrency = 2
tokens_per_day = 0

[quotas.cross_region]
tokens_per_minute = 2000

[quotas.global]
tokens_per_day = 99
)");
  EXPECT_EQ(o.quotas.books.mode, CountingMode::kSlidingWindow);
  EXPECT_EQ(o.quotas.books.period, seconds(6));
  EXPECT_EQ(Dump(o.quotas.on_demand), "1000 10 2 0");
  EXPECT_EQ(Dump(o.quotas.cross_region), "2000 0 0 unset");
  EXPECT_EQ(Dump(o.quotas.global), "1000000 0 0 99");

  EXPECT_EQ(ParseOk("[quotas]\nmode = \"fixed_window\"\n").quotas.books.mode,
            CountingMode::kFixedWindow);
  EXPECT_EQ(ParseOk("[quotas]\nperiod = \"24h\"\n").quotas.books.period, hours(24));
}

TEST(EmulatorConfig, QuotaOverridesKeepTheirOrderAndUnsetFields) {
  EmulatorOptions o = ParseOk(R"([[quotas.override]]
model = "anthropic.claude-3-haiku-20240307-v1:0"
tokens_per_minute = 5000

[[quotas.override]]
region = "eu-west-1"
requests_per_minute = 3
max_concurrency = 1
tokens_per_day = 10
)");
  ASSERT_EQ(o.quotas.overrides.size(), 2u);
  const QuotaOverride& first = o.quotas.overrides[0];
  EXPECT_EQ(first.region, "*");
  EXPECT_EQ(first.model, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(first.tokens_per_minute, 5000);
  EXPECT_FALSE(first.requests_per_minute.has_value());
  EXPECT_FALSE(first.max_concurrency.has_value());
  EXPECT_FALSE(first.tokens_per_day.has_value());
  const QuotaOverride& second = o.quotas.overrides[1];
  EXPECT_EQ(second.region, "eu-west-1");
  EXPECT_EQ(second.model, "*");
  EXPECT_FALSE(second.tokens_per_minute.has_value());
  EXPECT_EQ(second.requests_per_minute, 3);
  EXPECT_EQ(second.max_concurrency, 1);
  EXPECT_EQ(second.tokens_per_day, 10);
}

TEST(EmulatorConfig, ServiceQuotasSection) {
  EmulatorOptions o =
      ParseOk("[service_quotas]\nincrease_policy = \"pending\"\ndecide_after = \"2h\"\n");
  EXPECT_EQ(o.service_quotas.policy, IncreasePolicy::kPending);
  EXPECT_EQ(o.service_quotas.decide_after, hours(2));
  EXPECT_EQ(ParseOk("[service_quotas]\nincrease_policy = \"deny\"\n").service_quotas.policy,
            IncreasePolicy::kDeny);
  EXPECT_EQ(ParseOk("[service_quotas]\nincrease_policy = \"approve\"\n").service_quotas.policy,
            IncreasePolicy::kApprove);
}

TEST(EmulatorConfig, OutputSection) {
  EmulatorOptions o = ParseOk(R"([output]
distribution = "uniform"
mean = 50
stddev = 0
min = 10
max = 90
)");
  EXPECT_EQ(o.output.distribution, OutputLengthOptions::Distribution::kUniform);
  EXPECT_EQ(o.output.mean, 50);
  EXPECT_EQ(o.output.stddev, 0);
  EXPECT_EQ(o.output.min, 10);
  EXPECT_EQ(o.output.max, 90);
  EXPECT_EQ(ParseOk("[output]\ndistribution = \"fixed\"\n").output.distribution,
            OutputLengthOptions::Distribution::kFixed);
  // min = max is a fixed length by another name, and allowed.
  EXPECT_EQ(ParseOk("[output]\nmin = 1000\n").output.min, 1000);
}

TEST(EmulatorConfig, LatencySection) {
  EmulatorOptions o = ParseOk(R"([latency]
time_to_first_token = "0"
per_output_token = "250us"
jitter = "1s500ms"
)");
  EXPECT_EQ(o.latency.time_to_first_token, Duration::zero());
  EXPECT_EQ(o.latency.per_output_token, std::chrono::microseconds(250));
  EXPECT_EQ(o.latency.jitter, milliseconds(1500));
}

TEST(EmulatorConfig, FaultsSectionTakesIntegersAndFloats) {
  EmulatorOptions o = ParseOk(R"([faults]
internal_error = 0.01
service_unavailable = 0.02
model_timeout = 0.03
model_not_ready = 0.04
connection_reset = 0.05
stalled_response = 0
stream_throttle = 1
regions = ["us-west-2", "eu-west-1"]
start_after = "2s"
)");
  EXPECT_DOUBLE_EQ(o.faults.internal_error, 0.01);
  EXPECT_DOUBLE_EQ(o.faults.service_unavailable, 0.02);
  EXPECT_DOUBLE_EQ(o.faults.model_timeout, 0.03);
  EXPECT_DOUBLE_EQ(o.faults.model_not_ready, 0.04);
  EXPECT_DOUBLE_EQ(o.faults.connection_reset, 0.05);
  EXPECT_DOUBLE_EQ(o.faults.stalled_response, 0);
  EXPECT_DOUBLE_EQ(o.faults.stream_throttle, 1);
  EXPECT_EQ(o.faults.regions, (std::vector<std::string>{"us-west-2", "eu-west-1"}));
  EXPECT_EQ(o.faults.start_after, std::chrono::seconds(2));
}

TEST(EmulatorConfig, ApplicationProfilesKeepTheirOrderAndUnsetFields) {
  EmulatorOptions o = ParseOk(R"([[application_profile]]
id = "abc123"
name = "contracts-team"
copy_from = "us.amazon.nova-lite-v1:0"

[[application_profile]]
id = "Legal2"
copy_from = "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0"
description = "Legal's own budget line."
region = "eu-west-1"
)");
  ASSERT_EQ(o.application_profiles.size(), 2u);
  const ApplicationProfileOptions& first = o.application_profiles[0];
  EXPECT_EQ(first.id, "abc123");
  EXPECT_EQ(first.name, "contracts-team");
  EXPECT_EQ(first.description, "");
  EXPECT_EQ(first.copy_from, "us.amazon.nova-lite-v1:0");
  EXPECT_EQ(first.region, "");  // the emulator's default region, decided at start
  const ApplicationProfileOptions& second = o.application_profiles[1];
  EXPECT_EQ(second.id, "Legal2");
  EXPECT_EQ(second.name, "");  // the id, decided at start
  EXPECT_EQ(second.description, "Legal's own budget line.");
  EXPECT_EQ(second.copy_from, "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0");
  EXPECT_EQ(second.region, "eu-west-1");
}

TEST(EmulatorConfig, InlineTablesAndDottedKeysAreTheSameTables) {
  EmulatorOptions o = ParseOk(
      "server.port = 1234\nquotas = { period = \"10s\", on_demand = { tokens_per_minute = 7 } }\n");
  EXPECT_EQ(o.server.port, 1234);
  EXPECT_EQ(o.quotas.books.period, seconds(10));
  EXPECT_EQ(o.quotas.on_demand.tokens_per_minute, 7);
}

struct BadConfig {
  std::string name;
  std::string toml;
  std::string message;  // the whole message, file and line included
};

void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }

class EmulatorConfigError : public ::testing::TestWithParam<BadConfig> {};

TEST_P(EmulatorConfigError, FailsNamingFileLineAndKey) {
  Result<EmulatorOptions> options = ParseEmulatorConfig(GetParam().toml, "emulator.toml");
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(options.error().message, GetParam().message);
}

const BadConfig kBadConfigs[] = {
    {"SyntaxError", "seed = 1\n[server\n",
     "emulator.toml:2: invalid TOML: Error while parsing table header: expected ']', saw '\\n'"},
    {"DuplicateKey", "seed = 1\nseed = 2\n",
     "emulator.toml:2: invalid TOML: Error while parsing key-value pair: cannot redefine existing "
     "integer 'seed'"},
    // Unknown keys: a typo gets the key it probably meant; anything else the list of keys.
    {"TypoAtTopLevel", "sead = 1\n", "emulator.toml:1: sead: unknown key (did you mean seed?)"},
    {"UnknownTopLevelKey", "verbose = true\n",
     "emulator.toml:1: verbose: unknown key (expected one of: seed, model_catalog, server, auth, "
     "quotas, service_quotas, output, latency, faults, application_profile)"},
    {"TypoInSection", "[quotas.on_demand]\ntokens_per_minte = 5\n",
     "emulator.toml:2: quotas.on_demand.tokens_per_minte: unknown key (did you mean "
     "tokens_per_minute?)"},
    {"UnknownSection", "[servr]\nport = 1\n",
     "emulator.toml:1: servr: unknown key (did you mean server?)"},
    {"UnknownKeyInOverride", "[[quotas.override]]\ntokens_per_minute = 1\nregoin = \"x\"\n",
     "emulator.toml:3: quotas.override[0].regoin: unknown key (did you mean region?)"},
    {"UnknownKeyInCredential",
     "[[auth.credentials]]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\ntoken = \"c\"\n",
     "emulator.toml:4: auth.credentials[0].token: unknown key (expected one of: access_key_id, "
     "secret_access_key)"},
    // Wrong types.
    {"StringForInteger", "[server]\nport = \"8080\"\n",
     "emulator.toml:2: server.port: must be an integer, got a string"},
    {"FloatForInteger", "[quotas.global]\ntokens_per_minute = 1.5\n",
     "emulator.toml:2: quotas.global.tokens_per_minute: must be an integer, got a float"},
    {"IntegerForString", "[server]\naddress = 127\n",
     "emulator.toml:2: server.address: must be a string, got an integer"},
    {"IntegerForDuration", "[latency]\njitter = 5\n",
     "emulator.toml:2: latency.jitter: must be a duration string like \"250ms\", \"6s\", \"1m\" or "
     "\"0\", got an integer"},
    {"ValueForSection", "faults = 0.5\n",
     "emulator.toml:1: faults: must be a table ([faults]), got a float"},
    {"TableForArrayOfTables", "[quotas.override]\ntokens_per_minute = 1\n",
     "emulator.toml:1: quotas.override: must be an array of tables ([[quotas.override]]), got a "
     "table"},
    {"NonStringBearerKey", "[auth]\nbearer_keys = [\"a\", 2]\n",
     "emulator.toml:2: auth.bearer_keys[1]: must be a string, got an integer"},
    {"BearerKeysNotAList", "[auth]\nbearer_keys = \"a\"\n",
     "emulator.toml:2: auth.bearer_keys: must be an array of strings, got a string"},
    {"StringForProbability", "[faults]\nmodel_timeout = \"1%\"\n",
     "emulator.toml:2: faults.model_timeout: must be a number in [0, 1], got a string"},
    // Out of range.
    {"NegativeSeed", "seed = -1\n", "emulator.toml:1: seed: must not be negative, got -1"},
    {"PortTooLarge", "[server]\nport = 65536\n",
     "emulator.toml:2: server.port: must be at most 65535, got 65536"},
    {"NegativePort", "[server]\nport = -1\n",
     "emulator.toml:2: server.port: must not be negative, got -1"},
    {"ZeroThreads", "[server]\nthreads = 0\n",
     "emulator.toml:2: server.threads: must be at least 1, got 0"},
    {"TooManyThreads", "[server]\nthreads = 1000\n",
     "emulator.toml:2: server.threads: must be at most 256, got 1000"},
    {"ZeroTokensPerMinute", "[quotas.on_demand]\ntokens_per_minute = 0\n",
     "emulator.toml:2: quotas.on_demand.tokens_per_minute: must be at least 1, got 0"},
    {"HugeTokensPerMinute", "[quotas.on_demand]\ntokens_per_minute = 1_125_899_906_842_625\n",
     "emulator.toml:2: quotas.on_demand.tokens_per_minute: must be at most 2^50, got "
     "1125899906842625"},
    {"NegativeConcurrency", "[quotas.cross_region]\nmax_concurrency = -3\n",
     "emulator.toml:2: quotas.cross_region.max_concurrency: must not be negative, got -3"},
    {"NegativeOverrideDay", "[[quotas.override]]\ntokens_per_day = -1\n",
     "emulator.toml:2: quotas.override[0].tokens_per_day: must not be negative, got -1"},
    {"ProbabilityAboveOne", "[faults]\ninternal_error = 1.5\n",
     "emulator.toml:2: faults.internal_error: must be a probability in [0, 1], got 1.5"},
    {"NegativeProbability", "[faults]\nconnection_reset = -0.1\n",
     "emulator.toml:2: faults.connection_reset: must be a probability in [0, 1], got -0.1"},
    {"NanProbability", "[faults]\nstream_throttle = nan\n",
     "emulator.toml:2: faults.stream_throttle: must be a probability in [0, 1], got nan"},
    {"ZeroMean", "[output]\nmean = 0\n", "emulator.toml:2: output.mean: must be at least 1, got 0"},
    {"MinAboveMax", "[output]\nmin = 10\nmax = 5\n",
     "emulator.toml:3: output.max: output.min (10) must not exceed output.max (5)"},
    {"MinAboveDefaultMax", "[output]\nmin = 2000\n",
     "emulator.toml:2: output.min: output.min (2000) must not exceed output.max (1000)"},
    // Names.
    {"UnknownCountingMode", "[quotas]\nmode = \"leaky_bucket\"\n",
     "emulator.toml:2: quotas.mode: unknown counting mode 'leaky_bucket' (expected token_bucket, "
     "fixed_window or sliding_window)"},
    {"UnknownDistribution", "[output]\ndistribution = \"poisson\"\n",
     "emulator.toml:2: output.distribution: unknown distribution 'poisson' (expected fixed, "
     "uniform or normal)"},
    {"UnknownIncreasePolicy", "[service_quotas]\nincrease_policy = \"maybe\"\n",
     "emulator.toml:2: service_quotas.increase_policy: unknown increase policy 'maybe' (expected "
     "approve, deny or pending)"},
    // Durations.
    {"ZeroPeriod", "[quotas]\nperiod = \"0\"\n",
     "emulator.toml:2: quotas.period: quota period must be in (0, 24 h], got \"0\""},
    {"PeriodAboveADay", "[quotas]\nperiod = \"25h\"\n",
     "emulator.toml:2: quotas.period: quota period must be in (0, 24 h], got \"25h\""},
    {"DurationWithoutUnit", "[server]\nidle_timeout = \"60\"\n",
     "emulator.toml:2: server.idle_timeout: invalid duration \"60\": missing unit (ns, us, ms, s, "
     "m or h)"},
    {"DurationWithUnknownUnit", "[latency]\nper_output_token = \"10 ms\"\n",
     "emulator.toml:2: latency.per_output_token: invalid duration \"10 ms\": expected e.g. "
     "\"250ms\", \"6s\", \"1m30s\", \"2h\" or \"0\""},
    {"NegativeDuration", "[auth]\nmax_clock_skew = \"-5m\"\n",
     "emulator.toml:2: auth.max_clock_skew: invalid duration \"-5m\": durations cannot be "
     "negative"},
    {"DurationAboveADay", "[service_quotas]\ndecide_after = \"48h\"\n",
     "emulator.toml:2: service_quotas.decide_after: must be at most 24h, got \"48h\""},
    // Strings and lists.
    {"EmptyAddress", "[server]\naddress = \"\"\n",
     "emulator.toml:2: server.address: must not be empty"},
    {"EmptyBearerKey", "[auth]\nbearer_keys = [\"\"]\n",
     "emulator.toml:2: auth.bearer_keys[0]: must not be empty"},
    {"CredentialWithoutSecret", "seed = 1\n[[auth.credentials]]\naccess_key_id = \"AKIA1\"\n",
     "emulator.toml:2: auth.credentials[0]: missing secret_access_key"},
    {"DuplicateAccessKey",
     "[[auth.credentials]]\naccess_key_id = \"A\"\nsecret_access_key = \"1\"\n"
     "[[auth.credentials]]\naccess_key_id = \"A\"\nsecret_access_key = \"2\"\n",
     "emulator.toml:5: auth.credentials[1].access_key_id: duplicate access key id A"},
    {"OverrideWithoutQuota", "[[quotas.override]]\nregion = \"us-east-1\"\n",
     "emulator.toml:1: quotas.override[0]: sets no quota (tokens_per_minute, requests_per_minute, "
     "max_concurrency or tokens_per_day)"},
    {"EmptyOverrideModel", "[[quotas.override]]\nmodel = \"\"\ntokens_per_minute = 1\n",
     "emulator.toml:2: quotas.override[0].model: must not be empty"},
    // Application profiles.
    {"ApplicationProfileWithoutCopyFrom", "[[application_profile]]\nid = \"abc\"\n",
     "emulator.toml:1: application_profile[0]: missing copy_from"},
    {"ApplicationProfileIdWithPunctuation",
     "[[application_profile]]\nid = \"us.abc\"\ncopy_from = \"amazon.nova-lite-v1:0\"\n",
     "emulator.toml:2: application_profile[0].id: must be 1 to 64 letters and digits, got "
     "\"us.abc\""},
    {"ApplicationProfileNameWithSlash",
     "[[application_profile]]\nid = \"a\"\nname = \"a/b\"\ncopy_from = \"m\"\n",
     "emulator.toml:3: application_profile[0].name: must be 1 to 64 letters, digits, spaces, '_' "
     "or '-', got \"a/b\""},
    {"ApplicationProfileRegionNotARegion",
     "[[application_profile]]\nid = \"a\"\ncopy_from = \"m\"\nregion = \"US East\"\n",
     "emulator.toml:4: application_profile[0].region: must be a region name like \"us-east-1\", "
     "got \"US East\""},
    {"DuplicateApplicationProfileId",
     "[[application_profile]]\nid = \"a\"\ncopy_from = \"m\"\n"
     "[[application_profile]]\nid = \"a\"\ncopy_from = \"n\"\n",
     "emulator.toml:5: application_profile[1].id: duplicate application profile id a"},
    {"TypoInApplicationProfile",
     "[[application_profile]]\nid = \"a\"\ncopy_form = \"m\"\ncopy_from = \"m\"\n",
     "emulator.toml:3: application_profile[0].copy_form: unknown key (did you mean copy_from?)"},
    // Of several errors, the one on the earliest line is reported, wherever it is read.
    {"EarliestLineWins", "sead = 1\n[server]\nport = 70000\n",
     "emulator.toml:1: sead: unknown key (did you mean seed?)"},
    {"EarliestLineWinsAcrossSections", "[faults]\ninternal_error = 2\n[server]\nport = -5\n",
     "emulator.toml:2: faults.internal_error: must be a probability in [0, 1], got 2"},
};

INSTANTIATE_TEST_SUITE_P(All, EmulatorConfigError, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<BadConfig>& p) { return p.param.name; });

TEST(LoadEmulatorConfig, ReadsTheFileAndNamesItInErrors) {
  testing_util::TempDir dir("quotaflow-config");
  ASSERT_TRUE(dir.ok());
  const std::string good = dir.Write("good.toml", "[server]\nport = 9999\n");
  Result<EmulatorOptions> options = LoadEmulatorConfig(good);
  ASSERT_TRUE(options.has_value()) << options.error().message;
  EXPECT_EQ(options->server.port, 9999);

  const std::string bad = dir.Write("bad.toml", "\n\n[server]\nprot = 1\n");
  options = LoadEmulatorConfig(bad);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(options.error().message, bad + ":4: server.prot: unknown key (did you mean port?)");
}

TEST(LoadEmulatorConfig, UnreadableFileIsAnIoError) {
  testing_util::TempDir dir("quotaflow-config");
  ASSERT_TRUE(dir.ok());
  const std::string missing = (dir.path() / "missing.toml").string();
  Result<EmulatorOptions> options = LoadEmulatorConfig(missing);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code, ErrorCode::kIo);
  EXPECT_EQ(options.error().message, "cannot read " + missing + ": No such file or directory");

  options = LoadEmulatorConfig(dir.path());
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code, ErrorCode::kIo);
  EXPECT_EQ(options.error().message, "cannot read " + dir.path().string() + ": is a directory");
}

}  // namespace
}  // namespace quotaflow::emulator
