#include "bedrock/aws_json_client.h"

#include <chrono>
#include <cmath>
#include <set>
#include <thread>
#include <utility>

#include "aws/request_signer.h"

namespace quotaflow::bedrock {

namespace json = boost::json;

aws::RetryOptions ControlPlaneRetryOptions() {
  aws::RetryOptions options;
  options.retry_throttles = true;
  return options;
}

namespace internal {
namespace {

// A walk this long is a server that never stops issuing tokens.
constexpr int kMaxPages = 100'000;

}  // namespace

Result<std::unique_ptr<AwsJsonClient>> AwsJsonClient::Create(aws::HttpClient& http,
                                                             const Clock& clock,
                                                             AwsJsonProtocol protocol,
                                                             ControlPlaneOptions options) {
  const std::string_view service = aws::GetServiceInfo(protocol.service).endpoint_prefix;
  if (options.credentials == nullptr) {
    return tl::unexpected(
        Error::InvalidArgument(std::string(service) + " client needs SigV4 credentials"));
  }
  if (Status region = aws::ValidateRegion(options.region); !region) {
    return tl::unexpected(region.error());
  }
  if (options.endpoint.empty()) {
    Result<std::string> url = aws::DefaultEndpointUrl(protocol.service, options.region);
    if (!url) return tl::unexpected(url.error());
    options.endpoint = std::move(*url);
  }
  while (options.endpoint.ends_with('/')) options.endpoint.pop_back();
  if (Result<std::string> host = aws::HostHeaderForUrl(options.endpoint); !host) {
    return tl::unexpected(Error::InvalidArgument(
        std::string(service) + " endpoint is not an http(s) URL: '" + options.endpoint + "'"));
  }
  if (options.page_size < 1 || options.page_size > 100) {
    return tl::unexpected(Error::InvalidArgument("page_size must be from 1 to 100, not " +
                                                 std::to_string(options.page_size)));
  }
  return std::unique_ptr<AwsJsonClient>(
      new AwsJsonClient(http, clock, protocol, std::move(options)));
}

AwsJsonClient::AwsJsonClient(aws::HttpClient& http, const Clock& clock, AwsJsonProtocol protocol,
                             ControlPlaneOptions options)
    : http_(http),
      clock_(clock),
      protocol_(protocol),
      options_(std::move(options)),
      retry_(options_.retry),
      rng_(options_.jitter_seed ? *options_.jitter_seed : std::random_device()()) {}

Result<json::object> AwsJsonClient::Call(std::string_view operation, const json::object& body) {
  aws::HttpRequest request;
  request.method = aws::HttpMethod::kPost;
  request.url = options_.endpoint + "/";
  // botocore's order (sigv4_botocore_test.cc has the captured requests).
  request.headers.emplace_back("X-Amz-Target",
                               std::string(protocol_.target_prefix) + std::string(operation));
  request.headers.emplace_back("Content-Type", std::string(protocol_.content_type));
  if (protocol_.query_mode) request.headers.emplace_back("x-amzn-query-mode", "true");
  request.body = json::serialize(body);
  return Send(operation, request, &aws::ParseAwsJsonError);
}

Result<json::object> AwsJsonClient::Get(std::string_view operation,
                                        std::string_view path_and_query) {
  aws::HttpRequest request;
  request.method = aws::HttpMethod::kGet;
  request.url = options_.endpoint + std::string(path_and_query);
  return Send(operation, request, &aws::ParseRestJsonError);
}

Result<json::object> AwsJsonClient::Send(std::string_view operation,
                                         const aws::HttpRequest& request, ErrorParser parse_error) {
  const std::string_view signing_name = aws::GetServiceInfo(protocol_.service).signing_name;
  aws::RequestOptions transport = options_.http;
  transport.on_headers = nullptr;
  transport.on_data = nullptr;

  aws::RetryState state;
  while (true) {
    // Credentials are fetched per attempt: a refresh between attempts is picked up.
    Result<aws::Credentials> credentials = options_.credentials->GetCredentials();
    if (!credentials) return tl::unexpected(std::move(credentials.error()));
    aws::HttpRequest attempt = request;
    if (Status signed_ok = aws::SignHttpRequest(signer_, attempt, *credentials, options_.region,
                                                signing_name, clock_.WallNow());
        !signed_ok) {
      return tl::unexpected(std::move(signed_ok.error()));
    }
    Result<aws::HttpResponse> response = http_.SendSync(std::move(attempt), transport);

    aws::AwsError failure;
    if (!response) {
      failure.error = std::move(response.error());
      // aws::TransportError words a connect or read timeout this way; a retry after a timeout
      // costs more retry quota.
      failure.timed_out = failure.error.message.starts_with("timed out");
    } else if (response->status < 200 || response->status >= 300) {
      failure = parse_error(response->status, response->headers, response->body);
    } else {
      retry_.OnSuccess(state);
      if (response->body.empty()) return json::object();
      boost::system::error_code ec;
      json::value parsed = json::parse(response->body, ec);
      if (ec || !parsed.is_object()) {
        Error error = Error::Protocol(std::string(operation) + " response from " +
                                      options_.endpoint + " is not a JSON object");
        error.http_status = response->status;
        if (auto id = aws::FindHeader(response->headers, "x-amzn-RequestId")) {
          error.request_id = std::string(*id);
        }
        return tl::unexpected(std::move(error));
      }
      return std::move(parsed.get_object());
    }

    const int attempt_number = state.attempt;
    aws::RetryDecision decision;
    {
      std::lock_guard lock(rng_mu_);
      decision = retry_.OnFailure(failure, state, rng_);
    }
    if (!decision.retry) {
      Error error = std::move(failure.error);
      if (decision.reason == aws::RetryReason::kMaxAttempts ||
          decision.reason == aws::RetryReason::kQuotaExhausted) {
        error.message += " (gave up after " + std::to_string(attempt_number) +
                         " attempts: " + std::string(aws::RetryReasonName(decision.reason)) + ")";
      }
      return tl::unexpected(std::move(error));
    }
    if (options_.sleep) {
      options_.sleep(decision.delay);
    } else {
      std::this_thread::sleep_for(decision.delay);
    }
  }
}

std::optional<double> NumberField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

std::string StringField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

bool BoolField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

const json::object* ObjectField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v == nullptr ? nullptr : v->if_object();
}

const json::array* ArrayField(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v == nullptr ? nullptr : v->if_array();
}

WallTime FromEpochSeconds(double seconds) {
  // Milliseconds are all these services carry; rounding to them hides the binary fraction
  // (1735689600.475 is not exact in a double).
  if (!std::isfinite(seconds) || std::fabs(seconds) > 9.0e9) return WallTime{};
  const auto ms = std::chrono::milliseconds(std::llround(seconds * 1000.0));
  return WallTime(std::chrono::duration_cast<Duration>(ms));
}

std::optional<WallTime> TimeField(const json::object& object, std::string_view key) {
  const std::optional<double> seconds = NumberField(object, key);
  if (!seconds) return std::nullopt;
  return FromEpochSeconds(*seconds);
}

int64_t ToEpochSeconds(WallTime time) {
  return std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count();
}

Status WalkPages(AwsJsonClient& client, std::string_view operation, json::object request,
                 const std::function<Status(const json::object& page)>& on_page) {
  std::set<std::string, std::less<>> seen;
  for (int pages = 0; pages < kMaxPages; ++pages) {
    Result<json::object> page = client.Call(operation, request);
    if (!page) return tl::unexpected(std::move(page.error()));
    if (Status handled = on_page(*page); !handled) return handled;
    std::string token = StringField(*page, "NextToken");
    if (token.empty()) return {};
    if (!seen.insert(token).second) {
      return tl::unexpected(
          Error::Protocol(std::string(operation) + " returned the same NextToken twice"));
    }
    request["NextToken"] = token;
  }
  return tl::unexpected(Error::Protocol(std::string(operation) + " returned more than " +
                                        std::to_string(kMaxPages) + " pages"));
}

}  // namespace internal
}  // namespace quotaflow::bedrock
