#pragma once
// Shared AWS configuration as botocore 1.43 reads it: environment variables, the shared config
// file (AWS_CONFIG_FILE or ~/.aws/config) and the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), and from them the profile and the region a
// run uses. The credential chain (credentials.h) and endpoint resolution (endpoints.h) build on it.
//
// Nothing here reads the process environment except Environment::FromProcess: everything else
// takes an Environment, so that tests set any variable without setenv (which races with getenv
// on other threads).
//
// Thread safety: the free functions are safe from any thread (the loaders read files, nothing
// else); the structs are plain values.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow::aws {

// A set of environment variables.
// Thread safety: the const methods are safe from any thread; Set and Unset are not (build the
// environment first, then share it).
class Environment {
 public:
  using Variables = std::map<std::string, std::string, std::less<>>;

  Environment() = default;
  explicit Environment(Variables variables) : variables_(std::move(variables)) {}

  // A copy of the process environment as it is now; later setenv calls are not seen. Like getenv
  // it races with a concurrent setenv, so call it at startup, before other threads run.
  static Environment FromProcess();

  Environment& Set(std::string name, std::string value);
  Environment& Unset(std::string_view name);

  // nullopt when unset. A variable set to "" is "": botocore tells the two apart in places (a set
  // but empty AWS_BEARER_TOKEN_BEDROCK still selects bearer auth).
  std::optional<std::string> Get(std::string_view name) const;
  // The value when set and not empty; how most AWS settings treat an empty variable.
  std::optional<std::string> GetNonEmpty(std::string_view name) const;

  const Variables& variables() const { return variables_; }

 private:
  Variables variables_;
};

// os.path.expanduser(os.path.expandvars(path)), as botocore expands AWS_CONFIG_FILE and friends:
// $NAME and ${NAME} take the variable's value (an unset one stays as written), then a leading "~"
// or "~/" becomes $HOME (left alone when HOME is unset).
std::string ExpandPath(std::string_view path, const Environment& env);

// botocore's utils.ensure_boolean on a string setting: true only for "true", any case.
bool IsTrue(std::string_view value);

// Python's shlex.split(text) (POSIX mode, no comments), which botocore uses to split a
// credential_process command line and "[profile NAME]" headers: whitespace separates words,
// '...' is literal, inside "..." a backslash escapes only '\\' and '"', a backslash outside
// quotes escapes the next character, and quoted parts join the word around them (a"b c"d is one
// word). nullopt for an unterminated quote or a trailing backslash.
std::optional<std::vector<std::string>> ShellSplit(std::string_view text);

// One section of an INI file as botocore reads it (configparser.RawConfigParser, then
// configloader): option names lower-cased, names and values trimmed, a value continued on indented
// lines joined with '\n'. A value that starts on the next line is a sub-section
// ("s3 =\n  addressing_style = path") and is kept in `subsections` instead of `values`.
struct IniSection {
  std::map<std::string, std::string, std::less<>> values;
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> subsections;

  // The value of `key` (lower-case), or nullopt. Sub-sections are not values.
  std::optional<std::string_view> Get(std::string_view key) const;
  bool Has(std::string_view key) const { return values.contains(key) || subsections.contains(key); }
  bool empty() const { return values.empty() && subsections.empty(); }
};

// Section name (exactly as written between the brackets) -> section.
using IniSections = std::map<std::string, IniSection, std::less<>>;

// Parses INI text with Python's configparser rules, which botocore uses:
// - full-line comments start with '#' or ';' (after optional whitespace); there are no inline
//   comments: "region = x # y" is the value "x # y";
// - "name = value" or "name: value", split at the first '=' or ':';
// - a line indented deeper than the option before it continues that option's value;
// - "[DEFAULT]" is not a section: its options are inherited by every section;
// - a UTF-8 byte-order mark and CRLF line ends are accepted.
// Fails (kInvalidArgument, "<file_name>:<line>: why") where botocore raises ConfigParseError: an
// option before the first section, a line that is neither a section, an option nor a
// continuation, a repeated section or option, a sub-section line without '='. `file_name` only
// labels the errors.
Result<IniSections> ParseIni(std::string_view text, std::string_view file_name);

// Both shared files, parsed.
struct SharedConfig {
  std::string config_file;       // the path read (expanded), whether or not it exists
  std::string credentials_file;  // likewise
  // Config file: "[default]" and "[profile NAME]" by profile name. "[profile NAME]" sections
  // whose header does not split (shell-like) into exactly two words are ignored, and a later
  // "[profile default]" replaces "[default]", as botocore's build_profile_map does.
  IniSections profiles;
  // Config file: "[services NAME]" sections by NAME (per-service endpoint_url settings).
  IniSections services;
  // Credentials file: every section by its name ("[dev]" is profile dev).
  IniSections credentials;

  // The profile as botocore's session sees it (session.full_config): the config file's section
  // with the credentials file's section of the same name laid over it, key by key. nullopt when
  // neither file has it.
  std::optional<IniSection> Profile(std::string_view name) const;
};

// Parses the two files' text (either may be empty). The paths only label errors and are stored.
Result<SharedConfig> ParseSharedConfig(std::string_view config_text,
                                       std::string_view credentials_text,
                                       std::string_view config_file = "config",
                                       std::string_view credentials_file = "credentials");

// Reads AWS_CONFIG_FILE (default ~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE (default
// ~/.aws/credentials). A missing file is empty; an unreadable one fails (kIo) and a malformed one
// fails (kInvalidArgument), as botocore will not start on a ConfigParseError.
Result<SharedConfig> LoadSharedConfig(const Environment& env);

// What a command line (or a library caller) sets explicitly. Empty = not given.
struct ConfigOverrides {
  std::string profile;  // --profile
  std::string region;   // --region
};

enum class ProfileSource {
  kDefault,      // nothing named a profile: "default"
  kEnvironment,  // AWS_DEFAULT_PROFILE or AWS_PROFILE
  kExplicit,     // --profile. Unlike AWS_PROFILE it disables the environment keys in the
                 // credential chain: botocore's rule for a profile given in code.
};

// The configuration one run uses.
struct AwsConfig {
  SharedConfig files;
  std::string profile_name;  // "default" unless named
  ProfileSource profile_source = ProfileSource::kDefault;
  // The profile's merged settings (SharedConfig::Profile); empty when "default" exists nowhere.
  IniSection profile;
  // --region, else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's `region`. Empty when
  // none is set. (botocore itself reads only AWS_DEFAULT_REGION; AWS_REGION first is what the AWS
  // CLI v2 and the other SDKs do.) Not validated here: endpoint resolution does that.
  std::string region;
  // Where `region` came from: "--region", "AWS_REGION", "AWS_DEFAULT_REGION",
  // "profile <name>", or empty. For messages.
  std::string region_source;

  // A setting that botocore reads from an environment variable first and then from the profile:
  // the variable when set and not empty, else the profile's `config_key`, else nullopt.
  std::optional<std::string> Setting(const Environment& env, std::string_view env_name,
                                     std::string_view config_key) const;
};

// The attempts every AWS call may make, the first included: AWS_MAX_ATTEMPTS, else the profile's
// `max_attempts`, as botocore reads them; nullopt when neither is set. kInvalidArgument, naming
// where the value came from, for anything but an integer of at least 1 (botocore refuses those
// too, when it makes a client).
Result<std::optional<int>> MaxAttempts(const AwsConfig& config, const Environment& env);

// Loads the shared files and picks the profile and region. The profile is --profile, else
// AWS_DEFAULT_PROFILE, else AWS_PROFILE (botocore's order), else "default"; empty variables count
// as unset. Fails (kNotFound, "The config profile (NAME) could not be found", plus the files
// looked in) when a named profile, even "default", exists in neither file, as botocore's
// ProfileNotFound; and as LoadSharedConfig does.
Result<AwsConfig> LoadAwsConfig(const Environment& env, const ConfigOverrides& overrides = {});
// The same over already-loaded files.
Result<AwsConfig> ResolveAwsConfig(SharedConfig files, const Environment& env,
                                   const ConfigOverrides& overrides = {});

}  // namespace quotaflow::aws
