#include "aws/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include "aws/uri.h"
#include "core/check.h"

namespace quotaflow::aws {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kDefaultImdsEndpoint = "http://169.254.169.254/";
constexpr std::string_view kImdsIpv6Endpoint = "http://[fd00:ec2::254]/";
constexpr std::string_view kImdsCredentialsPath = "latest/meta-data/iam/security-credentials/";

// Prefixes an error's message with what was being done, keeping its code and flags.
Error WithContext(Error error, std::string_view context) {
  error.message = std::string(context) + ": " + error.message;
  return error;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "scheme://host[:port]" of a URL: enough to say which endpoint failed without repeating a path
// or query that might carry a capability.
std::string Origin(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(invalid URL)";
  const size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  return std::string(url.substr(0, host_end));
}

// The host[:port] of an absolute URL, for the Host header.
std::string HostOf(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  const std::string_view rest = url.substr(scheme_end + 3);
  return std::string(rest.substr(0, rest.find_first_of("/?#")));
}

std::string FormatSeconds(Duration d) {
  return std::to_string(std::chrono::duration_cast<seconds>(d).count()) + " s";
}

// The member `name` of `object` if it is a string.
std::optional<std::string> JsonString(const boost::json::object& object, std::string_view name) {
  const boost::json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return std::string(value->get_string());
}

// Reads credentials from a JSON object with the given member names. Error messages name the
// missing member, never a value.
Result<ExpiringCredentials> CredentialsFromJson(const boost::json::object& object,
                                                std::string_view token_name, bool token_required,
                                                bool expiration_required) {
  ExpiringCredentials result;
  auto access_key = JsonString(object, "AccessKeyId");
  if (!access_key)
    return tl::unexpected(Error::Auth("Missing required key in response: AccessKeyId"));
  auto secret = JsonString(object, "SecretAccessKey");
  if (!secret) {
    return tl::unexpected(Error::Auth("Missing required key in response: SecretAccessKey"));
  }
  result.credentials.access_key_id = std::move(*access_key);
  result.credentials.secret_access_key = std::move(*secret);
  if (auto token = JsonString(object, token_name)) {
    result.credentials.session_token = std::move(*token);
  } else if (token_required) {
    return tl::unexpected(
        Error::Auth("Missing required key in response: " + std::string(token_name)));
  }
  if (auto expiration = JsonString(object, "Expiration")) {
    result.expiration = ParseIso8601(*expiration);
    if (!result.expiration) {
      return tl::unexpected(Error::Auth("Expiration in response is not an ISO 8601 time"));
    }
  } else if (expiration_required) {
    return tl::unexpected(Error::Auth("Missing required key in response: Expiration"));
  }
  return result;
}

std::optional<boost::json::object> ParseJsonObject(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

Result<HttpResponse> SendWithTimeout(HttpClient& http, HttpRequest request, Duration timeout) {
  RequestOptions options;
  options.connect_timeout = timeout;
  options.read_timeout = timeout;
  options.total_timeout = timeout * 2;
  options.version = HttpVersionPolicy::kHttp1_1;
  options.max_response_bytes = size_t{1} << 20;
  return http.SendSync(std::move(request), std::move(options));
}

// --- environment ---

class EnvironmentSource final : public CredentialSource {
 public:
  explicit EnvironmentSource(const Environment& env) : env_(env) {}

  std::string Describe() const override {
    return "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)";
  }

  Result<std::optional<ExpiringCredentials>> Load() override {
    auto access_key = env_.GetNonEmpty("AWS_ACCESS_KEY_ID");
    if (!access_key) return std::nullopt;
    auto secret = env_.GetNonEmpty("AWS_SECRET_ACCESS_KEY");
    if (!secret) {
      return tl::unexpected(Error::Auth(
          "Partial credentials found in environment variables, missing: AWS_SECRET_ACCESS_KEY"));
    }
    ExpiringCredentials result;
    result.credentials.access_key_id = std::move(*access_key);
    result.credentials.secret_access_key = std::move(*secret);
    // botocore takes the first one set: the legacy AWS_SECURITY_TOKEN wins.
    if (auto token = env_.GetNonEmpty("AWS_SECURITY_TOKEN")) {
      result.credentials.session_token = std::move(*token);
    } else if (auto session_token = env_.GetNonEmpty("AWS_SESSION_TOKEN")) {
      result.credentials.session_token = std::move(*session_token);
    }
    if (auto expiration = env_.GetNonEmpty("AWS_CREDENTIAL_EXPIRATION")) {
      result.expiration = ParseIso8601(*expiration);
      if (!result.expiration) {
        return tl::unexpected(
            Error::Auth("AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time (e.g. "
                        "2025-01-01T00:00:00Z)"));
      }
    }
    return result;
  }

 private:
  const Environment env_;
};

// --- keys in a shared file's profile section ---

Result<std::optional<ExpiringCredentials>> StaticKeysFromSection(const IniSection& section,
                                                                 std::string_view where) {
  auto access_key = section.Get("aws_access_key_id");
  if (!access_key) return std::nullopt;
  auto secret = section.Get("aws_secret_access_key");
  if (!secret || secret->empty()) {
    return tl::unexpected(Error::Auth("Partial credentials found in " + std::string(where) +
                                      ", missing: aws_secret_access_key"));
  }
  if (access_key->empty()) {
    return tl::unexpected(Error::Auth("aws_access_key_id is empty in " + std::string(where)));
  }
  ExpiringCredentials result;
  result.credentials.access_key_id = std::string(*access_key);
  result.credentials.secret_access_key = std::string(*secret);
  if (auto token = section.Get("aws_security_token")) {
    result.credentials.session_token = std::string(*token);
  } else if (auto session_token = section.Get("aws_session_token")) {
    result.credentials.session_token = std::string(*session_token);
  }
  return result;
}

class StaticFileSource final : public CredentialSource {
 public:
  // `section` is nullopt when the file has no such profile.
  StaticFileSource(std::string description, std::optional<IniSection> section)
      : description_(std::move(description)), section_(std::move(section)) {}

  std::string Describe() const override { return description_; }

  Result<std::optional<ExpiringCredentials>> Load() override {
    if (!section_) return std::nullopt;
    return StaticKeysFromSection(*section_, description_);
  }

 private:
  const std::string description_;
  const std::optional<IniSection> section_;
};

// --- profiles set up for what quotaflow does not implement ---

class UnsupportedSource final : public CredentialSource {
 public:
  // `reason` empty: not configured, Load finds nothing.
  UnsupportedSource(std::string description, std::string reason)
      : description_(std::move(description)), reason_(std::move(reason)) {}

  std::string Describe() const override { return description_; }

  Result<std::optional<ExpiringCredentials>> Load() override {
    if (reason_.empty()) return std::nullopt;
    return tl::unexpected(Error::Auth(reason_));
  }

 private:
  const std::string description_;
  const std::string reason_;
};

std::string UnsupportedAdvice(std::string_view profile) {
  return "; quotaflow supports it only through credential_process (for example `credential_process "
         "= aws configure export-credentials --profile " +
         std::string(profile) + " --format process`) or credentials in the environment";
}

std::unique_ptr<CredentialSource> WebIdentityAndSsoSource(const AwsConfig& config,
                                                          std::string_view profile_name,
                                                          const Environment* env) {
  const std::optional<IniSection> profile = config.files.Profile(profile_name);
  std::string reason;
  const bool token_file_in_env =
      env != nullptr && env->Get("AWS_WEB_IDENTITY_TOKEN_FILE").has_value();
  if (token_file_in_env || (profile && profile->Has("web_identity_token_file"))) {
    reason = "profile " + std::string(profile_name) +
             " is set up for AssumeRoleWithWebIdentity (web_identity_token_file" +
             (token_file_in_env ? std::string(" / AWS_WEB_IDENTITY_TOKEN_FILE") : "") +
             "), which quotaflow does not implement" + UnsupportedAdvice(profile_name);
  } else if (profile && (profile->Has("sso_role_name") || profile->Has("sso_account_id"))) {
    reason = "profile " + std::string(profile_name) +
             " is set up for IAM Identity Center (SSO), which quotaflow does not implement" +
             UnsupportedAdvice(profile_name);
  }
  return std::make_unique<UnsupportedSource>(
      "web identity and SSO settings of profile " + std::string(profile_name), std::move(reason));
}

std::unique_ptr<CredentialSource> LoginSource(const AwsConfig& config,
                                              std::string_view profile_name) {
  const std::optional<IniSection> profile = config.files.Profile(profile_name);
  std::string reason;
  if (profile && profile->Has("login_session")) {
    reason = "profile " + std::string(profile_name) +
             " is set up for `aws login` (login_session), which quotaflow does not implement" +
             UnsupportedAdvice(profile_name);
  }
  return std::make_unique<UnsupportedSource>(
      "login_session of profile " + std::string(profile_name), std::move(reason));
}

// --- credential_process ---

struct ProcessResult {
  int exit_status = -1;  // -1: killed by a signal or timed out
  bool timed_out = false;
  bool output_too_large = false;
  std::string out;
  std::string err;
};

std::optional<std::string> FindExecutable(const std::string& name, const Environment& env) {
  if (name.find('/') != std::string::npos) return name;
  // os.defpath when PATH is unset, as subprocess does.
  const std::string path = env.Get("PATH").value_or(":/bin:/usr/bin");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    start = end + 1;
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

// Runs argv (no shell) with `env` as its environment, stdin inherited (a process may prompt on
// the terminal), stdout and stderr captured. Kills it at `timeout`.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const Environment& env,
                                 Duration timeout, size_t output_limit) {
  auto program = FindExecutable(argv[0], env);
  if (!program) return tl::unexpected(Error::Auth("command not found: " + argv[0]));

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return tl::unexpected(Error::Io("pipe2: " + std::generic_category().message(errno)));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int saved = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return tl::unexpected(Error::Io("pipe2: " + std::generic_category().message(saved)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  env_strings.reserve(env.variables().size());
  for (const auto& [name, value] : env.variables()) {
    std::string entry = name;
    entry += '=';
    entry += value;
    env_strings.push_back(std::move(entry));
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program->c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return tl::unexpected(
        Error::Auth("cannot run " + argv[0] + ": " + std::generic_category().message(rc)));
  }

  ProcessResult result;
  // The deadline is the operating system's real time: a child process does not follow a fake
  // clock.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        if (sinks[i]->size() + static_cast<size_t>(n) > output_limit) {
          result.output_too_large = true;
        } else {
          sinks[i]->append(buffer, static_cast<size_t>(n));
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
    if (result.output_too_large) break;
  }
  if (result.timed_out || result.output_too_large) ::kill(pid, SIGKILL);
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && !result.output_too_large && WIFEXITED(status)) {
    result.exit_status = WEXITSTATUS(status);
  }
  return result;
}

class ProcessSource final : public CredentialSource {
 public:
  ProcessSource(const AwsConfig& config, std::string profile_name, const Environment& env,
                const CredentialChainOptions& options)
      : profile_name_(std::move(profile_name)), env_(env), options_(options) {
    if (auto profile = config.files.Profile(profile_name_)) {
      if (auto command = profile->Get("credential_process")) command_ = std::string(*command);
    }
  }

  std::string Describe() const override { return "credential_process of profile " + profile_name_; }

  Result<std::optional<ExpiringCredentials>> Load() override {
    if (!command_) return std::nullopt;
    const std::string what = "credential_process of profile " + profile_name_;
    auto argv = ShellSplit(*command_);
    if (!argv || argv->empty()) {
      return tl::unexpected(Error::Auth(what + " is not a valid command line"));
    }
    auto run = RunProcess(*argv, env_, options_.process_timeout, options_.process_output_limit);
    if (!run) return tl::unexpected(WithContext(std::move(run.error()), what));
    if (run->timed_out) {
      return tl::unexpected(Error::Auth(what + " (" + (*argv)[0] + ") did not finish within " +
                                        FormatSeconds(options_.process_timeout) + "; killed it"));
    }
    if (run->output_too_large) {
      return tl::unexpected(Error::Auth(what + " (" + (*argv)[0] + ") printed more than " +
                                        std::to_string(options_.process_output_limit) + " bytes"));
    }
    if (run->exit_status != 0) {
      // Its stderr is the process's own explanation ("token expired, run aws sso login"), which
      // botocore reports too; its stdout may hold credentials, so it is never quoted.
      std::string message =
          what + " (" + (*argv)[0] + ") failed with " +
          (run->exit_status < 0 ? std::string("a signal")
                                : "exit status " + std::to_string(run->exit_status));
      const std::string_view err = TrimSpace(run->err);
      if (!err.empty()) message += ": " + std::string(err.substr(0, 512));
      return tl::unexpected(Error::Auth(std::move(message)));
    }
    auto object = ParseJsonObject(run->out);
    if (!object) return tl::unexpected(Error::Auth(what + " did not print a JSON object"));
    const boost::json::value* version = object->if_contains("Version");
    const bool version_one =
        version != nullptr && ((version->is_int64() && version->get_int64() == 1) ||
                               (version->is_uint64() && version->get_uint64() == 1) ||
                               (version->is_double() && version->get_double() == 1.0));
    if (!version_one) {
      return tl::unexpected(Error::Auth(
          what + ": unsupported Version for credential process provider, supported versions: 1"));
    }
    auto credentials = CredentialsFromJson(*object, "SessionToken", /*token_required=*/false,
                                           /*expiration_required=*/false);
    if (!credentials) return tl::unexpected(WithContext(std::move(credentials.error()), what));
    return std::move(*credentials);
  }

 private:
  const std::string profile_name_;
  std::optional<std::string> command_;
  const Environment env_;
  const CredentialChainOptions options_;
};

// --- container credentials (ECS, EKS Pod Identity) ---

bool IsLoopbackOrAllowedHost(std::string_view host) {
  // botocore's ContainerMetadataFetcher: a loopback address or one of the container agents.
  if (host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23" ||
      host == "localhost" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8, written as a dotted quad.
  if (!host.starts_with("127.")) return false;
  int parts = 0;
  size_t start = 0;
  while (start <= host.size()) {
    size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view part = host.substr(start, end - start);
    int value = -1;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || value > 255) {
      return false;
    }
    ++parts;
    start = end + 1;
  }
  return parts == 4;
}

class ContainerSource final : public CredentialSource {
 public:
  ContainerSource(const Environment& env, HttpClient& http, const CredentialChainOptions& options)
      : env_(env), http_(http), options_(options) {}

  std::string Describe() const override {
    return "container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or "
           "AWS_CONTAINER_CREDENTIALS_FULL_URI)";
  }

  Result<std::optional<ExpiringCredentials>> Load() override {
    auto relative = env_.Get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    auto full = env_.Get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!relative && !full) return std::nullopt;
    std::string url;
    if (relative) {
      url = options_.container_base_url + *relative;
    } else {
      url = *full;
      if (auto allowed = CheckFullUri(url); !allowed) return tl::unexpected(allowed.error());
    }
    auto authorization = AuthorizationHeader();
    if (!authorization) return tl::unexpected(std::move(authorization.error()));

    const std::string what = "container credentials endpoint " + Origin(url);
    Error last;
    for (int attempt = 0; attempt < std::max(1, options_.container_attempts); ++attempt) {
      if (attempt > 0 && options_.container_retry_delay > Duration::zero()) {
        // Not under any lock: CredentialChain runs Load outside its mutex.
        std::this_thread::sleep_for(options_.container_retry_delay);
      }
      HttpRequest request;
      request.method = HttpMethod::kGet;
      request.url = url;
      request.headers.emplace_back("Accept", "application/json");
      if (*authorization) request.headers.emplace_back("Authorization", **authorization);
      auto response = SendWithTimeout(http_, std::move(request), options_.container_timeout);
      if (!response) {
        last = WithContext(std::move(response.error()), what + " is unreachable");
        continue;
      }
      if (response->status != 200) {
        last = response->status >= 500
                   ? Error::Unavailable(what + " returned HTTP " + std::to_string(response->status))
                   : Error::Auth(what + " returned HTTP " + std::to_string(response->status));
        continue;
      }
      auto object = ParseJsonObject(response->body);
      if (!object) {
        last = Error::Auth("Unable to parse JSON returned from " + what);
        continue;
      }
      auto credentials = CredentialsFromJson(*object, "Token", /*token_required=*/true,
                                             /*expiration_required=*/true);
      if (!credentials) return tl::unexpected(WithContext(std::move(credentials.error()), what));
      return std::move(*credentials);
    }
    return tl::unexpected(std::move(last));
  }

 private:
  static Status CheckFullUri(const std::string& url) {
    if (url.starts_with("https://")) return {};
    std::string host;
    if (url.starts_with("http://")) {
      host = Lower(HostOf(url));
      if (host.starts_with('[')) {
        host = host.substr(1, host.find(']') - 1);
      } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
        host.resize(colon);
      }
    }
    if (!host.empty() && IsLoopbackOrAllowedHost(host)) return {};
    return tl::unexpected(
        Error::Auth("Unsupported host in AWS_CONTAINER_CREDENTIALS_FULL_URI (" + Origin(url) +
                    "). Can only retrieve metadata from a loopback address or one of these hosts: "
                    "169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost"));
  }

  // The Authorization value, nullopt for none. The token file is read on every fetch: the agent
  // rotates it.
  Result<std::optional<std::string>> AuthorizationHeader() const {
    std::optional<std::string> token;
    if (auto path = env_.Get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      std::ifstream in(*path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in) {
        return tl::unexpected(
            Error::Auth("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + *path));
      }
      token = text.str();
    } else {
      token = env_.Get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (token && token->find_first_of("\r\n") != std::string::npos) {
      return tl::unexpected(Error::Auth(
          "The container authorization token is not a legal header value (it contains a line "
          "break)"));
    }
    return token;
  }

  const Environment env_;
  HttpClient& http_;
  const CredentialChainOptions options_;
};

// --- EC2 instance metadata (IMDSv2) ---

class InstanceMetadataSource final : public CredentialSource {
 public:
  InstanceMetadataSource(const AwsConfig& config, const Environment& env, HttpClient& http,
                         Clock& clock, const CredentialChainOptions& options)
      : http_(http), clock_(clock), jitter_(std::random_device()()) {
    disabled_ = Lower(env.Get("AWS_EC2_METADATA_DISABLED").value_or("false")) == "true";
    if (auto endpoint = config.Setting(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                       "ec2_metadata_service_endpoint")) {
      base_url_ = *endpoint;
    } else {
      auto mode = config.Setting(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                 "ec2_metadata_service_endpoint_mode");
      const bool ipv6 =
          mode ? Lower(*mode) == "ipv6"
               : IsTrue(config.Setting(env, "AWS_IMDS_USE_IPV6", "imds_use_ipv6").value_or(""));
      base_url_ = std::string(ipv6 ? kImdsIpv6Endpoint : kDefaultImdsEndpoint);
    }
    if (!base_url_.ends_with('/')) base_url_ += '/';
    v1_disabled_ =
        IsTrue(config.Setting(env, "AWS_EC2_METADATA_V1_DISABLED", "ec2_metadata_v1_disabled")
                   .value_or(""));
    timeout_ = options.imds_timeout.value_or(seconds(1));
    if (!options.imds_timeout) {
      if (auto text =
              config.Setting(env, "AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout")) {
        double value = 0;
        std::istringstream in(*text);
        if (in >> value && value > 0) {
          timeout_ = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value));
        }
      }
    }
    attempts_ = options.imds_attempts.value_or(1);
    if (!options.imds_attempts) {
      if (auto text = config.Setting(env, "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
                                     "metadata_service_num_attempts")) {
        int value = 0;
        auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (ec == std::errc() && value > 0) attempts_ = value;
      }
    }
    refresh_window_ = options.refresh.advisory;
  }

  std::string Describe() const override {
    if (disabled_) return "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)";
    return "EC2 instance metadata at " + Origin(base_url_);
  }

  Result<std::optional<ExpiringCredentials>> Load() override {
    if (disabled_) return std::nullopt;
    if (!base_url_.starts_with("http://") && !base_url_.starts_with("https://")) {
      return tl::unexpected(Error::Auth("Invalid EC2 instance metadata endpoint: " + base_url_));
    }
    // PUT for a session token. 403/404/405: IMDSv2 is off, so fall back to IMDSv1 (no token),
    // as botocore does. Unreachable: there is no IMDS here; botocore would still try one v1 GET,
    // which can only time out again, so quotaflow stops at once.
    std::optional<std::string> token;
    bool reachable = false;
    for (int attempt = 0; attempt < attempts_; ++attempt) {
      HttpRequest request;
      request.method = HttpMethod::kPut;
      request.url = base_url_ + "latest/api/token";
      request.headers.emplace_back("x-aws-ec2-metadata-token-ttl-seconds", "21600");
      auto response = SendWithTimeout(http_, std::move(request), timeout_);
      if (!response) continue;
      reachable = true;
      if (response->status == 200) {
        token = std::move(response->body);
        break;
      }
      if (response->status == 403 || response->status == 404 || response->status == 405) break;
      if (response->status == 400) return std::nullopt;  // botocore: a bad request, give up
    }
    if (!reachable) return std::nullopt;
    if (!token && v1_disabled_) {
      return tl::unexpected(Error::Auth(
          "Unable to retrieve token for use in IMDSv2 call and IMDSv1 has been disabled"));
    }
    auto role = Get(std::string(kImdsCredentialsPath), token, /*json=*/false);
    if (!role) return std::nullopt;
    auto body = Get(std::string(kImdsCredentialsPath) + *role, token, /*json=*/true);
    if (!body) return std::nullopt;
    auto object = ParseJsonObject(*body);
    if (!object) return std::nullopt;
    // A 200 without every field is IMDS reporting an error in JSON ({"Code": ..., "Message":
    // ...}), for example a role EC2 may not assume: botocore treats it as "no credentials".
    auto credentials = CredentialsFromJson(*object, "Token", /*token_required=*/true,
                                           /*expiration_required=*/true);
    if (!credentials) return std::nullopt;
    ExtendIfStale(*credentials);
    return std::move(*credentials);
  }

 private:
  // A GET retried while the answer is not 200, empty, or (for json) not JSON; nullopt after the
  // last attempt.
  std::optional<std::string> Get(const std::string& path, const std::optional<std::string>& token,
                                 bool json) {
    for (int attempt = 0; attempt < attempts_; ++attempt) {
      HttpRequest request;
      request.method = HttpMethod::kGet;
      request.url = base_url_ + path;
      if (token) request.headers.emplace_back("x-aws-ec2-metadata-token", *token);
      auto response = SendWithTimeout(http_, std::move(request), timeout_);
      if (!response || response->status != 200 || response->body.empty()) continue;
      if (json && !ParseJsonObject(response->body)) continue;
      return std::move(response->body);
    }
    return std::nullopt;
  }

  // botocore's static stability: IMDS may keep serving credentials past their expiration while
  // its own refresh fails. Rather than call it again on every request, treat them as valid for
  // another refresh window plus 2-10 minutes of jitter (so a fleet does not retry in step).
  void ExtendIfStale(ExpiringCredentials& credentials) {
    if (!credentials.expiration) return;
    const Duration extension =
        refresh_window_ + seconds(std::uniform_int_distribution<int>(120, 600)(jitter_));
    const WallTime now = clock_.WallNow();
    if (now >= *credentials.expiration - extension) credentials.expiration = now + extension;
  }

  HttpClient& http_;
  Clock& clock_;
  std::minstd_rand jitter_;  // Load is never concurrent (CredentialChain), so unguarded
  bool disabled_ = false;
  bool v1_disabled_ = false;
  std::string base_url_;
  Duration timeout_;
  int attempts_ = 1;
  Duration refresh_window_;
};

// --- STS AssumeRole ---

std::string FormEncode(std::string_view value) {
  // application/x-www-form-urlencoded as Python's urlencode writes it: the AWS unreserved set
  // kept, ' ' as '+', everything else %XX.
  std::string encoded;
  for (char c : value) {
    if (c == ' ') {
      encoded += '+';
    } else {
      AppendUriEncoded(encoded, std::string_view(&c, 1));
    }
  }
  return encoded;
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const size_t semicolon = text.find(';', i);
    if (semicolon == std::string_view::npos) {
      out += text[i];
      continue;
    }
    const std::string_view entity = text.substr(i + 1, semicolon - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.starts_with('#')) {
      const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      unsigned code = 0;
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || code > 0x10FFFF) {
        out += text[i];
        continue;
      }
      // UTF-8.
      if (code < 0x80) {
        out += static_cast<char>(code);
      } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else if (code < 0x10000) {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (code >> 18));
        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      }
    } else {
      out += text[i];
      continue;
    }
    i = semicolon;
  }
  return out;
}

// The raw content of the first <name>...</name> (or <name attr="...">...</name>) element in
// `xml`; "" for <name/>; nullopt when absent or unterminated. Enough for the flat,
// namespace-free documents STS returns; not a general XML parser.
std::optional<std::string_view> XmlElement(std::string_view xml, std::string_view name) {
  size_t from = 0;
  while (true) {
    const size_t open = xml.find("<" + std::string(name), from);
    if (open == std::string_view::npos) return std::nullopt;
    const size_t after_name = open + 1 + name.size();
    if (after_name >= xml.size()) return std::nullopt;
    const char next = xml[after_name];
    if (next != '>' && next != '/' && next != ' ' && next != '\t' && next != '\n' && next != '\r') {
      from = after_name;  // a longer name that starts with this one
      continue;
    }
    const size_t tag_end = xml.find('>', after_name);
    if (tag_end == std::string_view::npos) return std::nullopt;
    if (xml[tag_end - 1] == '/') return std::string_view();
    const size_t close = xml.find("</" + std::string(name) + ">", tag_end + 1);
    if (close == std::string_view::npos) return std::nullopt;
    return xml.substr(tag_end + 1, close - tag_end - 1);
  }
}

std::optional<std::string> XmlText(std::string_view xml, std::string_view name) {
  auto element = XmlElement(xml, name);
  if (!element) return std::nullopt;
  return XmlUnescape(*element);
}

struct RoleConfig {
  std::string role_arn;
  std::string source_profile;     // empty when credential_source is used
  std::string credential_source;  // empty when source_profile is used
  std::optional<std::string> role_session_name;
  std::optional<std::string> external_id;
  std::optional<int> duration_seconds;
};

class AssumeRoleSource final : public CredentialSource {
 public:
  // `config_error`: the profile's role settings are invalid; Load reports it (botocore raises when
  // it loads, not when the chain is built). `source` supplies the credentials that call STS.
  AssumeRoleSource(const AwsConfig& config, const Environment& env, HttpClient& http, Clock& clock,
                   const CredentialChainOptions& options, std::string profile_name,
                   std::optional<RoleConfig> role, std::optional<Error> config_error,
                   std::unique_ptr<CredentialsProvider> source)
      : config_(config),
        env_(env),
        http_(http),
        clock_(clock),
        options_(options),
        profile_name_(std::move(profile_name)),
        role_(std::move(role)),
        config_error_(std::move(config_error)),
        source_(std::move(source)) {}

  std::string Describe() const override {
    if (role_)
      return "AssumeRole " + role_->role_arn + " (role_arn of profile " + profile_name_ + ")";
    return "role_arn of profile " + profile_name_;
  }

  Result<std::optional<ExpiringCredentials>> Load() override {
    if (config_error_) return tl::unexpected(*config_error_);
    if (!role_) return std::nullopt;
    const std::string what = "AssumeRole " + role_->role_arn + " for profile " + profile_name_;
    auto source = source_->GetCredentials();
    if (!source) return tl::unexpected(WithContext(std::move(source.error()), what));

    auto endpoint = ResolveEndpoint(Service::kSts, config_, env_, options_.sts_endpoint_url);
    if (!endpoint) return tl::unexpected(WithContext(std::move(endpoint.error()), what));

    if (session_name_.empty()) {
      // Fixed for this source's life, so that every refresh is the same session name, as
      // botocore's fetcher does.
      session_name_ = role_->role_session_name.value_or(options_.role_session_name);
      if (session_name_.empty()) {
        const auto now = std::chrono::duration_cast<seconds>(clock_.WallNow().time_since_epoch());
        session_name_ = "quotaflow-session-" + std::to_string(now.count());
      }
    }
    // Parameters in the order botocore sends them: its query serializer follows the argument
    // dict, which the assume-role provider fills with the configured session name, ExternalId and
    // DurationSeconds, then RoleArn, then a generated session name.
    const bool configured_name = role_->role_session_name.has_value();
    std::string body = "Action=AssumeRole&Version=2011-06-15";
    if (configured_name) body += "&RoleSessionName=" + FormEncode(session_name_);
    if (role_->external_id) body += "&ExternalId=" + FormEncode(*role_->external_id);
    if (role_->duration_seconds) {
      body += "&DurationSeconds=" + std::to_string(*role_->duration_seconds);
    }
    body += "&RoleArn=" + FormEncode(role_->role_arn);
    if (!configured_name) body += "&RoleSessionName=" + FormEncode(session_name_);

    HttpRequest request;
    request.method = HttpMethod::kPost;
    request.url = endpoint->url + "/";
    request.headers.emplace_back("Host", HostOf(request.url));
    request.headers.emplace_back("Content-Type",
                                 "application/x-www-form-urlencoded; charset=utf-8");
    request.body = std::move(body);
    SignableRequest signable;
    signable.method = "POST";
    const std::string_view url = request.url;  // the view outlives Sign, unlike a substr()
    signable.path = url.substr(url.find('/', url.find("://") + 3));
    signable.headers = request.headers;
    signable.body = request.body;
    SigningParams params;
    params.region = endpoint->signing_region;
    params.service = "sts";
    params.time = clock_.WallNow();
    auto signature = signer_.Sign(signable, *source, params);
    if (!signature) return tl::unexpected(WithContext(std::move(signature.error()), what));
    for (auto& header : signature->headers) request.headers.push_back(std::move(header));

    RequestOptions request_options;
    request_options.connect_timeout = options_.sts_timeout;
    request_options.read_timeout = options_.sts_timeout;
    request_options.max_response_bytes = size_t{1} << 20;
    auto response = http_.SendSync(std::move(request), std::move(request_options));
    if (!response) {
      return tl::unexpected(
          WithContext(std::move(response.error()), what + ": STS at " + Origin(endpoint->url)));
    }
    if (response->status != 200) return tl::unexpected(StsError(*response, what));

    auto credentials_xml = XmlElement(response->body, "Credentials");
    auto access_key = credentials_xml ? XmlText(*credentials_xml, "AccessKeyId") : std::nullopt;
    auto secret = credentials_xml ? XmlText(*credentials_xml, "SecretAccessKey") : std::nullopt;
    auto token = credentials_xml ? XmlText(*credentials_xml, "SessionToken") : std::nullopt;
    auto expiration = credentials_xml ? XmlText(*credentials_xml, "Expiration") : std::nullopt;
    if (!access_key || !secret || !token || !expiration || access_key->empty() || secret->empty()) {
      return tl::unexpected(
          Error::Auth(what + ": the STS response (HTTP 200) has no complete Credentials element"));
    }
    ExpiringCredentials result;
    result.credentials.access_key_id = std::move(*access_key);
    result.credentials.secret_access_key = std::move(*secret);
    result.credentials.session_token = std::move(*token);
    result.expiration = ParseIso8601(*expiration);
    if (!result.expiration) {
      return tl::unexpected(Error::Auth(what + ": the STS Expiration is not an ISO 8601 time"));
    }
    return result;
  }

 private:
  // The query protocol's <ErrorResponse><Error><Code>..</Code><Message>..</Message></Error>.
  static Error StsError(const HttpResponse& response, const std::string& what) {
    Error error;
    error.http_status = response.status;
    auto code = XmlText(response.body, "Code");
    auto message = XmlText(response.body, "Message");
    if (auto request_id = XmlText(response.body, "RequestId")) error.request_id = *request_id;
    if (auto header = FindHeader(response.headers, "x-amzn-RequestId")) {
      error.request_id = std::string(*header);
    }
    error.aws_code = code.value_or("");
    if (response.status >= 500 || error.aws_code == "Throttling") {
      error.code = ErrorCode::kUnavailable;
      error.retryable = true;
    } else {
      error.code = ErrorCode::kAuth;
    }
    error.message = what + ": STS returned HTTP " + std::to_string(response.status);
    if (code) error.message += " " + *code;
    if (message) error.message += ": " + message->substr(0, 512);
    return error;
  }

  const AwsConfig config_;
  const Environment env_;
  HttpClient& http_;
  Clock& clock_;
  const CredentialChainOptions options_;
  const std::string profile_name_;
  const std::optional<RoleConfig> role_;
  const std::optional<Error> config_error_;
  const std::unique_ptr<CredentialsProvider> source_;
  const Signer signer_;
  std::string session_name_;  // set by the first Load; Load is never concurrent
};

bool HasStaticKeys(const IniSection& profile) {
  return profile.Has("aws_access_key_id") || profile.Has("aws_secret_access_key");
}

bool HasRoleConfig(const IniSection& profile) {
  return profile.Has("role_arn") && !profile.Has("web_identity_token_file");
}

class ChainBuilder {
 public:
  ChainBuilder(const AwsConfig& config, const Environment& env, HttpClient& http, Clock& clock,
               const CredentialChainOptions& options)
      : config_(config), env_(env), http_(http), clock_(clock), options_(options) {}

  std::vector<std::unique_ptr<CredentialSource>> Default() {
    std::vector<std::unique_ptr<CredentialSource>> sources;
    const std::string& profile = config_.profile_name;
    const bool env_keys = config_.profile_source != ProfileSource::kExplicit;
    if (env_keys) {
      sources.push_back(std::make_unique<EnvironmentSource>(env_));
    } else {
      // Listed, so that "unable to locate credentials" says why keys in the environment were not
      // used.
      sources.push_back(std::make_unique<UnsupportedSource>(
          "environment variables (skipped: the profile was given explicitly)", ""));
    }
    std::vector<std::string> visited = {profile};
    sources.push_back(AssumeRole(profile, visited));
    for (auto& source : ProfileSources(profile, env_keys)) sources.push_back(std::move(source));
    sources.push_back(std::make_unique<ContainerSource>(env_, http_, options_));
    sources.push_back(
        std::make_unique<InstanceMetadataSource>(config_, env_, http_, clock_, options_));
    return sources;
  }

 private:
  // botocore's ProfileProviderBuilder.providers: web identity, SSO, shared credentials file,
  // login, credential_process, config file.
  std::vector<std::unique_ptr<CredentialSource>> ProfileSources(const std::string& profile,
                                                                bool env_allowed) {
    std::vector<std::unique_ptr<CredentialSource>> sources;
    sources.push_back(WebIdentityAndSsoSource(config_, profile, env_allowed ? &env_ : nullptr));
    auto in_credentials = config_.files.credentials.find(profile);
    sources.push_back(std::make_unique<StaticFileSource>(
        "shared credentials file " + config_.files.credentials_file + ", profile [" + profile + "]",
        in_credentials == config_.files.credentials.end()
            ? std::nullopt
            : std::optional<IniSection>(in_credentials->second)));
    sources.push_back(LoginSource(config_, profile));
    sources.push_back(std::make_unique<ProcessSource>(config_, profile, env_, options_));
    auto in_config = config_.files.profiles.find(profile);
    sources.push_back(std::make_unique<StaticFileSource>(
        "shared config file " + config_.files.config_file + ", profile " + profile,
        in_config == config_.files.profiles.end() ? std::nullopt
                                                  : std::optional<IniSection>(in_config->second)));
    return sources;
  }

  std::unique_ptr<CredentialChain> Chain(std::vector<std::unique_ptr<CredentialSource>> sources) {
    return std::make_unique<CredentialChain>(std::move(sources), clock_, options_.refresh);
  }

  std::unique_ptr<CredentialSource> InvalidRole(const std::string& profile, Error error) {
    return std::make_unique<AssumeRoleSource>(config_, env_, http_, clock_, options_, profile,
                                              std::nullopt, std::move(error), nullptr);
  }

  // botocore's AssumeRoleProvider for `profile`, with its validation. `visited` is the chain of
  // source_profile references so far, for loop detection.
  std::unique_ptr<CredentialSource> AssumeRole(const std::string& profile,
                                               std::vector<std::string>& visited) {
    const std::optional<IniSection> settings = config_.files.Profile(profile);
    if (!settings || !HasRoleConfig(*settings)) {
      return std::make_unique<AssumeRoleSource>(config_, env_, http_, clock_, options_, profile,
                                                std::nullopt, std::nullopt, nullptr);
    }
    RoleConfig role;
    role.role_arn = std::string(settings->Get("role_arn").value_or(""));
    role.source_profile = std::string(settings->Get("source_profile").value_or(""));
    role.credential_source = std::string(settings->Get("credential_source").value_or(""));
    if (auto name = settings->Get("role_session_name")) role.role_session_name = std::string(*name);
    if (auto id = settings->Get("external_id")) role.external_id = std::string(*id);
    if (auto text = settings->Get("duration_seconds")) {
      int value = 0;
      auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
      if (ec == std::errc() && ptr == text->data() + text->size()) role.duration_seconds = value;
    }
    if (settings->Has("mfa_serial")) {
      return InvalidRole(profile, Error::Auth("profile " + profile +
                                              " needs an MFA code (mfa_serial), which quotaflow "
                                              "cannot prompt for" +
                                              UnsupportedAdvice(profile)));
    }
    const bool has_source_profile = settings->Has("source_profile");
    const bool has_credential_source = settings->Has("credential_source");
    if (has_source_profile && has_credential_source) {
      return InvalidRole(profile, Error::Auth("The profile \"" + profile +
                                              "\" contains both source_profile and "
                                              "credential_source."));
    }
    if (!has_source_profile && !has_credential_source) {
      return InvalidRole(profile, Error::Auth("Partial credentials found in assume-role, missing: "
                                              "source_profile or credential_source"));
    }

    std::unique_ptr<CredentialsProvider> source;
    if (has_credential_source) {
      const std::string name = Lower(role.credential_source);
      std::unique_ptr<CredentialSource> named;
      if (name == "environment") {
        named = std::make_unique<EnvironmentSource>(env_);
      } else if (name == "ecscontainer") {
        named = std::make_unique<ContainerSource>(env_, http_, options_);
      } else if (name == "ec2instancemetadata") {
        named = std::make_unique<InstanceMetadataSource>(config_, env_, http_, clock_, options_);
      } else {
        return InvalidRole(
            profile, Error::Auth("The credential source \"" + role.credential_source +
                                 "\" referenced in profile \"" + profile + "\" is not valid."));
      }
      std::vector<std::unique_ptr<CredentialSource>> one;
      one.push_back(std::move(named));
      source = Chain(std::move(one));
    } else {
      const std::string& source_profile = role.source_profile;
      const std::optional<IniSection> source_settings = config_.files.Profile(source_profile);
      if (!source_settings) {
        return InvalidRole(profile, Error::Auth("The source_profile \"" + source_profile +
                                                "\" referenced in the profile \"" + profile +
                                                "\" does not exist."));
      }
      const bool seen = std::find(visited.begin(), visited.end(), source_profile) != visited.end();
      // A profile may name itself to take static keys from its own section; any other revisit
      // is a loop.
      if (seen && (source_profile != profile || !HasStaticKeys(*source_settings))) {
        std::string path;
        for (const std::string& name : visited) path += name + " -> ";
        return InvalidRole(profile, Error::Auth("Infinite loop in profile configuration: " + path +
                                                source_profile));
      }
      visited.push_back(source_profile);
      if (HasStaticKeys(*source_settings) || !HasRoleConfig(*source_settings)) {
        // The source profile's own providers, environment excluded.
        source = Chain(ProfileSources(source_profile, /*env_allowed=*/false));
      } else {
        std::vector<std::unique_ptr<CredentialSource>> one;
        one.push_back(AssumeRole(source_profile, visited));
        source = Chain(std::move(one));
      }
    }
    return std::make_unique<AssumeRoleSource>(config_, env_, http_, clock_, options_, profile,
                                              std::move(role), std::nullopt, std::move(source));
  }

  const AwsConfig& config_;
  const Environment& env_;
  HttpClient& http_;
  Clock& clock_;
  const CredentialChainOptions& options_;
};

}  // namespace

// --- time ---

std::optional<WallTime> ParseIso8601(std::string_view text) {
  // Exactly `len` decimal digits at `pos` (from_chars alone would take a sign).
  auto number = [&](size_t pos, size_t len, int& out) {
    if (pos + len > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (text.size() < 19 || !number(0, 4, year) || text[4] != '-' || !number(5, 2, month) ||
      text[7] != '-' || !number(8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !number(11, 2, hour) ||
      text[13] != ':' || !number(14, 2, minute) || text[16] != ':' || !number(17, 2, second)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  size_t pos = 19;
  Duration fraction{0};
  if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
    ++pos;
    const size_t digits_start = pos;
    int64_t nanos = 0;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (text[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (pos == digits_start) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
    fraction = Duration(nanos);
  }
  std::chrono::minutes offset{0};
  if (pos < text.size()) {
    const std::string_view zone = text.substr(pos);
    if (zone == "Z" || zone == "z") {
      // UTC
    } else if (zone.starts_with('+') || zone.starts_with('-')) {
      int offset_hours = 0;
      int offset_minutes = 0;
      bool parsed = false;
      if (zone.size() == 6 && zone[3] == ':') {
        parsed = number(pos + 1, 2, offset_hours) && number(pos + 4, 2, offset_minutes);
      } else if (zone.size() == 5) {
        parsed = number(pos + 1, 2, offset_hours) && number(pos + 3, 2, offset_minutes);
      } else if (zone.size() == 3) {
        parsed = number(pos + 1, 2, offset_hours);
      }
      if (!parsed || offset_hours > 23 || offset_minutes > 59) return std::nullopt;
      offset = std::chrono::minutes(offset_hours * 60 + offset_minutes);
      if (zone.starts_with('-')) offset = -offset;
    } else {
      return std::nullopt;
    }
  }
  const auto at = std::chrono::sys_days{date} + std::chrono::hours(hour) +
                  std::chrono::minutes(minute) + seconds(second) - offset;
  return WallTime(std::chrono::duration_cast<Duration>(at.time_since_epoch()) + fraction);
}

// --- CredentialChain ---

namespace {

bool IsExpired(const ExpiringCredentials& credentials, WallTime now) {
  return credentials.expiration.has_value() && credentials.expiration.value() <= now;
}

}  // namespace

CredentialChain::CredentialChain(std::vector<std::unique_ptr<CredentialSource>> sources,
                                 Clock& clock, RefreshWindows windows)
    : sources_(std::move(sources)), clock_(clock), windows_(windows) {}

Result<Credentials> CredentialChain::GetCredentials() {
  auto credentials = GetExpiringCredentials();
  if (!credentials) return tl::unexpected(std::move(credentials.error()));
  return std::move(credentials->credentials);
}

Result<std::pair<ExpiringCredentials, size_t>> CredentialChain::Resolve() {
  std::string looked;
  for (size_t i = 0; i < sources_.size(); ++i) {
    auto loaded = sources_[i]->Load();
    if (!loaded) return tl::unexpected(std::move(loaded.error()));
    std::optional<ExpiringCredentials>& found = *loaded;
    if (found.has_value()) return std::make_pair(std::move(*found), i);
    looked += "\n  " + std::to_string(i + 1) + ". " + sources_[i]->Describe();
  }
  return tl::unexpected(
      Error::Auth("Unable to locate credentials. Looked in, in this order:" + looked));
}

Result<ExpiringCredentials> CredentialChain::GetExpiringCredentials() {
  std::unique_lock lock(mu_);
  while (true) {
    if (!current_.has_value()) {
      if (!busy_) return ResolveLocked(lock);
      idle_.wait(lock, [this] { return !busy_; });
      continue;
    }
    const ExpiringCredentials& current = CurrentLocked();
    if (!current.expiration.has_value()) return current;
    const Duration remaining = *current.expiration - clock_.WallNow();
    if (remaining >= windows_.advisory) return current;
    const bool mandatory = remaining < windows_.mandatory;
    if (!busy_) return RefreshLocked(lock, mandatory);
    // Another thread is refreshing: inside the advisory window the current credentials are still
    // good; inside the mandatory window wait for the new ones.
    if (!mandatory) return current;
    idle_.wait(lock, [this] { return !busy_; });
  }
}

const ExpiringCredentials& CredentialChain::CurrentLocked() const {
  QF_CHECK(current_.has_value());  // never unset once set
  return *current_;
}

Result<ExpiringCredentials> CredentialChain::ResolveLocked(std::unique_lock<std::mutex>& lock) {
  busy_ = true;
  lock.unlock();
  auto resolved = Resolve();
  lock.lock();
  busy_ = false;
  idle_.notify_all();
  if (!resolved) return tl::unexpected(std::move(resolved.error()));
  auto& [credentials, index] = *resolved;
  if (IsExpired(credentials, clock_.WallNow())) {
    return tl::unexpected(Error::Auth("the credentials from " + sources_[index]->Describe() +
                                      " have already expired"));
  }
  current_ = credentials;
  source_index_ = index;
  return std::move(credentials);
}

Result<ExpiringCredentials> CredentialChain::RefreshLocked(std::unique_lock<std::mutex>& lock,
                                                           bool mandatory) {
  busy_ = true;
  CredentialSource& source = *sources_[source_index_];
  lock.unlock();
  auto refreshed = source.Load();
  lock.lock();
  busy_ = false;
  idle_.notify_all();
  // A failed advisory refresh is ignored: the next call tries again while these still work.
  if (!refreshed) {
    if (!mandatory) return CurrentLocked();
    return tl::unexpected(
        WithContext(std::move(refreshed.error()), "refreshing credentials failed"));
  }
  std::optional<ExpiringCredentials>& fresh = *refreshed;
  if (!fresh.has_value()) {
    if (!mandatory) return CurrentLocked();
    return tl::unexpected(Error::Auth("refreshing credentials failed: " + source.Describe() +
                                      " no longer has credentials"));
  }
  current_ = *fresh;
  if (IsExpired(*fresh, clock_.WallNow())) {
    return tl::unexpected(
        Error::Auth("Credentials were refreshed, but the refreshed credentials are still expired "
                    "(from " +
                    source.Describe() + ")"));
  }
  return std::move(*fresh);
}

std::string CredentialChain::CurrentSource() const {
  std::lock_guard lock(mu_);
  return current_ ? sources_[source_index_]->Describe() : std::string();
}

std::vector<std::string> CredentialChain::DescribeSources() const {
  std::vector<std::string> descriptions;
  descriptions.reserve(sources_.size());
  for (const auto& source : sources_) descriptions.push_back(source->Describe());
  return descriptions;
}

// --- the default chain ---

std::vector<std::unique_ptr<CredentialSource>> DefaultCredentialSources(
    const AwsConfig& config, const Environment& env, HttpClient& http, Clock& clock,
    const CredentialChainOptions& options) {
  return ChainBuilder(config, env, http, clock, options).Default();
}

std::unique_ptr<CredentialChain> MakeDefaultCredentialChain(const AwsConfig& config,
                                                            const Environment& env,
                                                            HttpClient& http, Clock& clock,
                                                            const CredentialChainOptions& options) {
  return std::make_unique<CredentialChain>(
      DefaultCredentialSources(config, env, http, clock, options), clock, options.refresh);
}

// --- auth scheme ---

std::string BearerTokenVariable(std::string_view signing_name) {
  std::string name = Upper(signing_name);
  std::replace(name.begin(), name.end(), '-', '_');
  std::replace(name.begin(), name.end(), ' ', '_');
  return "AWS_BEARER_TOKEN_" + name;
}

Result<ServiceAuth> ResolveServiceAuth(Service service, const AwsConfig& config,
                                       const Environment& env,
                                       std::shared_ptr<CredentialsProvider> sigv4_credentials,
                                       const AuthSettings& in_code) {
  const ServiceInfo& info = GetServiceInfo(service);
  // The service model's auth list, in its order (all of quotaflow's services list sigv4 first).
  std::vector<std::string> supported = {"sigv4"};
  if (info.supports_bearer) supported.emplace_back("httpBearerAuth");
  if (service == Service::kSts) supported.emplace_back("sigv4a");

  const bool set_in_code = in_code.force_sigv4 || !in_code.auth_scheme_preference.empty();
  std::string resolved = "sigv4";
  if (!in_code.force_sigv4) {
    std::optional<std::string> preference;
    if (!in_code.auth_scheme_preference.empty()) {
      preference = in_code.auth_scheme_preference;
    } else {
      preference = config.Setting(env, "AWS_AUTH_SCHEME_PREFERENCE", "auth_scheme_preference");
    }
    if (preference) {
      // botocore's resolve_auth_scheme_preference: the preferred schemes, then the service's own,
      // each kept once; the first that the service lists and the signer implements wins.
      std::vector<std::string> order;
      size_t start = 0;
      while (start <= preference->size()) {
        size_t end = preference->find(',', start);
        if (end == std::string::npos) end = preference->size();
        std::string item;
        const std::string_view all = *preference;
        for (char c : all.substr(start, end - start)) {
          if (c != ' ' && c != '\t') item += c;
        }
        start = end + 1;
        if (!item.empty()) order.push_back(std::move(item));
      }
      order.insert(order.end(), supported.begin(), supported.end());
      for (const std::string& scheme : order) {
        const bool listed =
            std::find(supported.begin(), supported.end(), scheme) != supported.end();
        if (listed && (scheme == "sigv4" || scheme == "httpBearerAuth")) {
          resolved = scheme;
          break;
        }
      }
    }
  }

  const std::string variable = BearerTokenVariable(info.signing_name);
  std::optional<std::string> token = env.Get(variable);
  // botocore's get_bearer_auth_supported_services() is {"bedrock"}: a signing name, so it covers
  // bedrock-runtime too.
  const bool bearer_allowed = info.signing_name == "bedrock" && info.supports_bearer;
  if (bearer_allowed && token && (resolved == "httpBearerAuth" || !set_in_code)) {
    ServiceAuth auth;
    auth.scheme = AuthScheme::kBearer;
    auth.bearer_token = std::move(*token);
    auth.bearer_token_source = variable;
    return auth;
  }
  if (resolved == "httpBearerAuth") {
    return tl::unexpected(
        Error::Auth("Unable to locate authorization token: the auth scheme "
                    "preference selects httpBearerAuth but " +
                    variable + " is not set"));
  }
  ServiceAuth auth;
  auth.scheme = AuthScheme::kSigV4;
  auth.credentials = std::move(sigv4_credentials);
  return auth;
}

}  // namespace quotaflow::aws
