#include "aws/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "aws/test_process.h"

namespace quotaflow::aws {
namespace {

ConfigOverrides Overrides(std::string profile, std::string region) {
  ConfigOverrides overrides;
  overrides.profile = std::move(profile);
  overrides.region = std::move(region);
  return overrides;
}

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A fresh temp directory for one test, removed with everything in it at the end.
class TempDir : public testing_util::TempDir {
 public:
  TempDir() : testing_util::TempDir("qf-config") {
    if (!ok()) ADD_FAILURE() << "mkdtemp failed";
  }
};

IniSections MustParse(const std::string& text) {
  auto parsed = ParseIni(text, "test.ini");
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return parsed.value_or(IniSections());
}

// --- Environment and small helpers ---

TEST(Environment, SetButEmptyIsNotUnset) {
  Environment env;
  env.Set("A", "").Set("B", "b");
  EXPECT_EQ(env.Get("A"), "");
  EXPECT_EQ(env.GetNonEmpty("A"), std::nullopt);
  EXPECT_EQ(env.Get("B"), "b");
  EXPECT_EQ(env.Get("C"), std::nullopt);
  env.Unset("B");
  EXPECT_EQ(env.Get("B"), std::nullopt);
}

TEST(Environment, FromProcessCopiesTheProcessEnvironment) {
  const Environment env = Environment::FromProcess();
  // ctest always sets QUOTAFLOW_SHARED (cmake/QuotaflowHelpers.cmake); PATH when run by hand.
  EXPECT_TRUE(env.Get("QUOTAFLOW_SHARED").has_value() || env.Get("PATH").has_value());
}

TEST(ExpandPath, ExpandsVariablesThenTheHomeDirectory) {
  Environment env;
  env.Set("HOME", "/home/u/").Set("DIR", "/etc/aws");
  EXPECT_EQ(ExpandPath("~/.aws/config", env), "/home/u/.aws/config");
  EXPECT_EQ(ExpandPath("~", env), "/home/u");
  EXPECT_EQ(ExpandPath("$DIR/config", env), "/etc/aws/config");
  EXPECT_EQ(ExpandPath("${DIR}x", env), "/etc/awsx");
  EXPECT_EQ(ExpandPath("$UNSET/config", env), "$UNSET/config");
  EXPECT_EQ(ExpandPath("~user/config", env), "~user/config");
  EXPECT_EQ(ExpandPath("/a$", env), "/a$");
  env.Unset("HOME");
  EXPECT_EQ(ExpandPath("~/.aws/config", env), "~/.aws/config");
}

TEST(IsTrue, OnlyTrueInAnyCase) {
  EXPECT_TRUE(IsTrue("true"));
  EXPECT_TRUE(IsTrue("TRUE"));
  EXPECT_TRUE(IsTrue("True"));
  EXPECT_FALSE(IsTrue("1"));
  EXPECT_FALSE(IsTrue("yes"));
  EXPECT_FALSE(IsTrue(""));
}

// Expected values from Python's shlex.split.
TEST(ShellSplit, MatchesPythonShlex) {
  EXPECT_EQ(ShellSplit("a\"b c\"d"), std::vector<std::string>({"ab cd"}));
  EXPECT_EQ(ShellSplit("'' x"), std::vector<std::string>({"", "x"}));
  EXPECT_EQ(ShellSplit(R"("a\$b\\c\"d")"), std::vector<std::string>({R"(a\$b\c"d)"}));
  EXPECT_EQ(ShellSplit(R"(a\ b)"), std::vector<std::string>({"a b"}));
  EXPECT_EQ(ShellSplit("x  y\tz"), std::vector<std::string>({"x", "y", "z"}));
  EXPECT_EQ(ShellSplit("'it''s'"), std::vector<std::string>({"its"}));
  EXPECT_EQ(ShellSplit(""), std::vector<std::string>());
  EXPECT_EQ(ShellSplit("'open"), std::nullopt);
  EXPECT_EQ(ShellSplit("\"open"), std::nullopt);
  EXPECT_EQ(ShellSplit("trailing\\"), std::nullopt);
}

// --- INI parsing: expected values checked against botocore 1.43's raw_config_parse ---

TEST(ParseIni, ReadsSectionsOptionsAndComments) {
  const IniSections s = MustParse(
      "[default]\nregion = us-east-1\n# comment\n; other comment\n[profile "
      "dev]\nregion=eu-west-1\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.at("default").Get("region"), "us-east-1");
  EXPECT_EQ(s.at("profile dev").Get("region"), "eu-west-1");
}

TEST(ParseIni, AcceptsColonsAndLowerCasesOptionNames) {
  const IniSections s = MustParse("[default]\nRegion: us-west-2\nAWS_ACCESS_KEY_ID = AKID\n");
  EXPECT_THAT(s.at("default").values,
              ElementsAre(Pair("aws_access_key_id", "AKID"), Pair("region", "us-west-2")));
}

TEST(ParseIni, HasNoInlineComments) {
  const IniSections s = MustParse("[default]\nregion = us-east-1 # not a comment\n");
  EXPECT_EQ(s.at("default").Get("region"), "us-east-1 # not a comment");
}

TEST(ParseIni, SplitsAtTheFirstDelimiterOnly) {
  const IniSections s = MustParse("[default]\nendpoint_url = http://localhost:8080/a=b\n");
  EXPECT_EQ(s.at("default").Get("endpoint_url"), "http://localhost:8080/a=b");
}

TEST(ParseIni, IndentedValueAfterEmptyOneIsASubsection) {
  const IniSections s = MustParse(
      "[default]\ns3 =\n  max_concurrent_requests = 20\n\n  addressing_style=path\nregion = x\n");
  const IniSection& d = s.at("default");
  EXPECT_EQ(d.Get("region"), "x");
  EXPECT_EQ(d.Get("s3"), std::nullopt);
  EXPECT_TRUE(d.Has("s3"));
  EXPECT_THAT(d.subsections.at("s3"),
              ElementsAre(Pair("addressing_style", "path"), Pair("max_concurrent_requests", "20")));
}

TEST(ParseIni, CommentLinesInsideASubsectionAreDropped) {
  const IniSections s = MustParse("[default]\ns3 =\n  # c\n  a = b\n");
  EXPECT_THAT(s.at("default").subsections.at("s3"), ElementsAre(Pair("a", "b")));
}

TEST(ParseIni, IndentedLineContinuesAValue) {
  const IniSections s = MustParse("[default]\nregion = us-east-1\n  more\n");
  EXPECT_EQ(s.at("default").Get("region"), "us-east-1\nmore");
}

TEST(ParseIni, TrimsWhitespaceAroundHeadersNamesAndValues) {
  const IniSections s = MustParse("  [default]  \n   region   =   us-east-1   \n");
  EXPECT_EQ(s.at("default").Get("region"), "us-east-1");
}

TEST(ParseIni, DefaultSectionIsInheritedByEverySection) {
  const IniSections s = MustParse("[DEFAULT]\nregion = r0\n[default]\n[profile a]\nregion = r1\n");
  ASSERT_EQ(s.size(), 2u);  // [DEFAULT] itself is not a section
  EXPECT_EQ(s.at("default").Get("region"), "r0");
  EXPECT_EQ(s.at("profile a").Get("region"), "r1");
}

TEST(ParseIni, EmptyValueIsKept) {
  const IniSections s = MustParse("[default]\nregion =\n");
  EXPECT_EQ(s.at("default").Get("region"), "");
}

TEST(ParseIni, IgnoresTextAfterTheHeaderBracket) {
  const IniSections s = MustParse("[default] junk\nregion = x\n");
  EXPECT_EQ(s.at("default").Get("region"), "x");
}

TEST(ParseIni, AcceptsCrlfAndAByteOrderMark) {
  const IniSections s = MustParse("\xEF\xBB\xBF[default]\r\nregion = us-east-1\r\n");
  EXPECT_EQ(s.at("default").Get("region"), "us-east-1");
}

struct IniErrorCase {
  const char* name;
  const char* text;
  const char* message;  // a substring of the error, with the line number
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const IniErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseIniErrors : public ::testing::TestWithParam<IniErrorCase> {};

TEST_P(ParseIniErrors, FailsWhereBotocoreRaisesConfigParseError) {
  auto parsed = ParseIni(GetParam().text, "conf");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(parsed.error().message, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Botocore, ParseIniErrors,
    ::testing::Values(IniErrorCase{"NoSection", "region = x\n", "conf:1: a setting before"},
                      IniErrorCase{"RepeatedSection", "[default]\n[default]\n", "conf:2: section"},
                      IniErrorCase{"RepeatedOption", "[default]\na=1\nA=2\n", "conf:3: option"},
                      IniErrorCase{"NotAnOption", "[default]\njustaword\n", "conf:2: expected"},
                      IniErrorCase{"SubsectionLineWithoutEquals", "[default]\ns3 =\n  noequals\n",
                                   "nested section \"s3\""},
                      IniErrorCase{"EmptyHeader", "[]\n", "conf:1:"},
                      IniErrorCase{"EmptyOptionName", "[default]\n= x\n", "conf:2:"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// --- the shared files ---

TEST(ParseSharedConfig, MapsProfileAndServicesSectionsLikeBuildProfileMap) {
  auto shared = ParseSharedConfig(
      "[profile  spaced]\na=1\n[profile \"quoted name\"]\na=2\n[profilex]\na=3\n"
      "[profile a b]\na=4\n[services s1]\nbedrock_runtime =\n  endpoint_url = http://x\n"
      "[sso-session x]\na=5\n[other]\nb=1\n",
      "");
  ASSERT_TRUE(shared.has_value()) << shared.error().message;
  EXPECT_THAT(shared->profiles,
              ElementsAre(Pair("quoted name", testing::_), Pair("spaced", testing::_)));
  EXPECT_EQ(shared->profiles.at("spaced").Get("a"), "1");
  ASSERT_EQ(shared->services.size(), 1u);
  EXPECT_EQ(shared->services.at("s1").subsections.at("bedrock_runtime").at("endpoint_url"),
            "http://x");
}

TEST(ParseSharedConfig, LaterProfileDefaultReplacesDefaultSection) {
  auto shared = ParseSharedConfig("[default]\na=1\n[profile default]\nb=2\n", "");
  ASSERT_TRUE(shared.has_value());
  EXPECT_FALSE(shared->profiles.at("default").Has("a"));
  EXPECT_EQ(shared->profiles.at("default").Get("b"), "2");
  // And the other way round: position decides, not the kind of header.
  shared = ParseSharedConfig("[profile default]\nb=2\n[default]\na=1\n", "");
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->profiles.at("default").Get("a"), "1");
  EXPECT_FALSE(shared->profiles.at("default").Has("b"));
}

TEST(ParseSharedConfig, CredentialsFileSectionsAreProfilesByTheirOwnName) {
  auto shared = ParseSharedConfig("[profile dev]\nregion = eu-west-1\noutput = json\n",
                                  "[dev]\nregion = us-west-2\naws_access_key_id = AKID\n"
                                  "[profile x]\na = 1\n");
  ASSERT_TRUE(shared.has_value());
  const IniSection dev = shared->Profile("dev").value_or(IniSection());
  // The credentials file is laid over the config file, key by key.
  EXPECT_EQ(dev.Get("region"), "us-west-2");
  EXPECT_EQ(dev.Get("output"), "json");
  EXPECT_EQ(dev.Get("aws_access_key_id"), "AKID");
  EXPECT_TRUE(shared->Profile("profile x").has_value());  // literally named "profile x"
  EXPECT_FALSE(shared->Profile("x").has_value());
  EXPECT_FALSE(shared->Profile("nope").has_value());
}

TEST(ParseSharedConfig, ErrorNamesTheFile) {
  auto shared = ParseSharedConfig("[default]\n", "oops\n", "/c/config", "/c/credentials");
  ASSERT_FALSE(shared.has_value());
  EXPECT_THAT(shared.error().message, HasSubstr("/c/credentials:1"));
}

TEST(LoadSharedConfig, ReadsTheFilesTheEnvironmentNames) {
  TempDir dir;
  Environment env;
  env.Set("AWS_CONFIG_FILE", dir.Write("conf", "[profile p]\nregion = eu-west-3\n"))
      .Set("AWS_SHARED_CREDENTIALS_FILE", dir.Write("creds", "[p]\naws_access_key_id = AKID\n"));
  auto shared = LoadSharedConfig(env);
  ASSERT_TRUE(shared.has_value()) << shared.error().message;
  EXPECT_EQ(shared->config_file, (dir.path() / "conf").string());
  EXPECT_EQ(shared->Profile("p").value_or(IniSection()).Get("region"), "eu-west-3");
  EXPECT_EQ(shared->Profile("p").value_or(IniSection()).Get("aws_access_key_id"), "AKID");
}

TEST(LoadSharedConfig, DefaultsToTheHomeDirectory) {
  TempDir dir;
  dir.Write(".aws/config", "[default]\nregion = ap-south-1\n");
  Environment env;
  env.Set("HOME", dir.path().string());
  auto shared = LoadSharedConfig(env);
  ASSERT_TRUE(shared.has_value()) << shared.error().message;
  EXPECT_EQ(shared->config_file, (dir.path() / ".aws/config").string());
  EXPECT_EQ(shared->credentials_file, (dir.path() / ".aws/credentials").string());
  EXPECT_EQ(shared->Profile("default").value_or(IniSection()).Get("region"), "ap-south-1");
}

TEST(LoadSharedConfig, MissingFilesAreEmpty) {
  TempDir dir;
  Environment env;
  env.Set("AWS_CONFIG_FILE", (dir.path() / "none").string())
      .Set("AWS_SHARED_CREDENTIALS_FILE", dir.path().string());  // a directory is no file
  auto shared = LoadSharedConfig(env);
  ASSERT_TRUE(shared.has_value());
  EXPECT_TRUE(shared->profiles.empty());
  EXPECT_TRUE(shared->credentials.empty());
}

TEST(LoadSharedConfig, MalformedFileFails) {
  TempDir dir;
  Environment env;
  env.Set("AWS_CONFIG_FILE", dir.Write("conf", "region = x\n"))
      .Set("AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "none").string());
  auto shared = LoadSharedConfig(env);
  ASSERT_FALSE(shared.has_value());
  EXPECT_EQ(shared.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(shared.error().message, HasSubstr((dir.path() / "conf").string() + ":1"));
}

// --- profile and region ---

Result<AwsConfig> Resolve(const std::string& config_text, const Environment& env,
                          const ConfigOverrides& overrides = {}) {
  auto files = ParseSharedConfig(config_text, "", "/cfg", "/creds");
  if (!files) return tl::unexpected(files.error());
  return ResolveAwsConfig(std::move(*files), env, overrides);
}

constexpr const char* kProfiles =
    "[default]\nregion = us-east-1\n[profile a]\nregion = eu-west-1\n"
    "[profile b]\nregion = ap-northeast-1\n";

TEST(ResolveAwsConfig, ProfileIsDefaultWhenNothingNamesOne) {
  auto config = Resolve(kProfiles, Environment());
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->profile_name, "default");
  EXPECT_EQ(config->profile_source, ProfileSource::kDefault);
  EXPECT_EQ(config->region, "us-east-1");
  EXPECT_EQ(config->region_source, "profile default");
}

TEST(ResolveAwsConfig, ExplicitProfileBeatsTheEnvironment) {
  Environment env;
  env.Set("AWS_PROFILE", "a");
  auto config = Resolve(kProfiles, env, Overrides("b", ""));
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->profile_name, "b");
  EXPECT_EQ(config->profile_source, ProfileSource::kExplicit);
  EXPECT_EQ(config->region, "ap-northeast-1");
}

TEST(ResolveAwsConfig, AwsProfileNamesTheProfile) {
  Environment env;
  env.Set("AWS_PROFILE", "a");
  auto config = Resolve(kProfiles, env);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->profile_name, "a");
  EXPECT_EQ(config->profile_source, ProfileSource::kEnvironment);
}

TEST(ResolveAwsConfig, AwsDefaultProfileComesBeforeAwsProfileAsInBotocore) {
  Environment env;
  env.Set("AWS_PROFILE", "a").Set("AWS_DEFAULT_PROFILE", "b");
  auto config = Resolve(kProfiles, env);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->profile_name, "b");
}

TEST(ResolveAwsConfig, EmptyProfileVariableCountsAsUnset) {
  Environment env;
  env.Set("AWS_PROFILE", "");
  auto config = Resolve(kProfiles, env);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->profile_name, "default");
}

TEST(ResolveAwsConfig, NamedProfileMustExist) {
  Environment env;
  env.Set("AWS_PROFILE", "missing");
  auto config = Resolve(kProfiles, env);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(config.error().message, HasSubstr("The config profile (missing) could not be found"));
  EXPECT_THAT(config.error().message, HasSubstr("/cfg"));
  // Even "default", when named.
  config = Resolve("", Environment(), Overrides("default", ""));
  ASSERT_FALSE(config.has_value());
  // Unnamed, a missing default profile is just empty.
  config = Resolve("", Environment());
  ASSERT_TRUE(config.has_value());
  EXPECT_TRUE(config->profile.empty());
  EXPECT_EQ(config->region, "");
}

struct RegionCase {
  const char* name;
  const char* flag;
  const char* aws_region;
  const char* aws_default_region;
  const char* expected;
  const char* expected_source;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const RegionCase& c, std::ostream* os) { *os << c.name; }

class RegionPrecedence : public ::testing::TestWithParam<RegionCase> {};

TEST_P(RegionPrecedence, PicksTheFirstSetSource) {
  const RegionCase& c = GetParam();
  Environment env;
  if (c.aws_region != nullptr) env.Set("AWS_REGION", c.aws_region);
  if (c.aws_default_region != nullptr) env.Set("AWS_DEFAULT_REGION", c.aws_default_region);
  auto config = Resolve(kProfiles, env, Overrides("", c.flag));
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->region, c.expected);
  EXPECT_EQ(config->region_source, c.expected_source);
}

INSTANTIATE_TEST_SUITE_P(
    All, RegionPrecedence,
    ::testing::Values(
        RegionCase{"Flag", "sa-east-1", "eu-north-1", "eu-south-1", "sa-east-1", "--region"},
        RegionCase{"AwsRegion", "", "eu-north-1", "eu-south-1", "eu-north-1", "AWS_REGION"},
        RegionCase{"AwsDefaultRegion", "", nullptr, "eu-south-1", "eu-south-1",
                   "AWS_DEFAULT_REGION"},
        RegionCase{"EmptyVariablesAreUnset", "", "", "", "us-east-1", "profile default"},
        RegionCase{"Profile", "", nullptr, nullptr, "us-east-1", "profile default"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(AwsConfig, SettingPrefersTheEnvironmentOverTheProfile) {
  Environment env;
  auto config = Resolve("[default]\nmetadata_service_timeout = 3\n", env);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->Setting(env, "AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout"), "3");
  env.Set("AWS_METADATA_SERVICE_TIMEOUT", "5");
  EXPECT_EQ(config->Setting(env, "AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout"), "5");
  EXPECT_EQ(config->Setting(env, "AWS_NOPE", "nope"), std::nullopt);
}

// MaxAttempts' value, or -1 (and a test failure) when it fails.
std::optional<int> AttemptsOrMinusOne(const AwsConfig& config, const Environment& env) {
  auto r = MaxAttempts(config, env);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.has_value() ? *r : std::optional<int>(-1);
}

TEST(MaxAttempts, ComesFromTheEnvironmentThenTheProfileAndIsUnsetOtherwise) {
  Environment env;
  auto plain = Resolve("[default]\nregion = us-east-1\n", env);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(AttemptsOrMinusOne(*plain, env), std::optional<int>());
  auto config = Resolve("[default]\nmax_attempts = 4\n", env);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(AttemptsOrMinusOne(*config, env), std::optional<int>(4));
  env.Set("AWS_MAX_ATTEMPTS", " 7 ");  // int() takes surrounding spaces, as botocore does
  EXPECT_EQ(AttemptsOrMinusOne(*config, env), std::optional<int>(7));
  env.Set("AWS_MAX_ATTEMPTS", "");  // empty counts as unset
  EXPECT_EQ(AttemptsOrMinusOne(*config, env), std::optional<int>(4));
}

TEST(MaxAttempts, AnythingButAnIntegerOfAtLeastOneIsRefusedNamingItsSource) {
  Environment env;
  auto config = Resolve("[default]\nmax_attempts = 0\n", env);
  ASSERT_TRUE(config.has_value());
  auto from_profile = MaxAttempts(*config, env);
  ASSERT_FALSE(from_profile.has_value());
  EXPECT_EQ(from_profile.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(from_profile.error().message, HasSubstr("max_attempts of profile default = '0'"));
  for (const char* bad : {"-1", "-0", "2.5", "abc", "3x", "+", "+-2", "99999999999"}) {
    env.Set("AWS_MAX_ATTEMPTS", bad);
    auto r = MaxAttempts(*config, env);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("AWS_MAX_ATTEMPTS = '" + std::string(bad) + "'"));
  }
  env.Set("AWS_MAX_ATTEMPTS", "+2");
  EXPECT_EQ(AttemptsOrMinusOne(*config, env), std::optional<int>(2));
}

TEST(LoadAwsConfig, ReadsFilesAndResolvesTheProfile) {
  TempDir dir;
  Environment env;
  env.Set("AWS_CONFIG_FILE", dir.Write("conf", "[profile p]\nregion = eu-west-3\n"))
      .Set("AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "none").string());
  auto config = LoadAwsConfig(env, Overrides("p", ""));
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->region, "eu-west-3");
}

}  // namespace
}  // namespace quotaflow::aws
