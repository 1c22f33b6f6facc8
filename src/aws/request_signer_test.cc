#include "aws/request_signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace quotaflow::aws {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

// 2025-01-02T03:04:05Z
WallTime SigningTime() {
  return WallTime(std::chrono::sys_days(std::chrono::year(2025) / 1 / 2).time_since_epoch() +
                  std::chrono::hours(3) + std::chrono::minutes(4) + std::chrono::seconds(5));
}

HttpRequest ConverseRequest(std::string url) {
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = std::move(url);
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";
  return request;
}

// What a server sees: the wire path and query split off the URL, every header sent.
VerifyResult VerifyAsServer(const HttpRequest& request, WallTime now) {
  std::string_view url = request.url;
  url.remove_prefix(url.find("://") + 3);
  std::string_view target = url.substr(url.find('/'));
  std::string_view query;
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  SignatureVerifier verifier(
      [](std::string_view key) -> std::optional<std::string> {
        if (key == kKeyId) return std::string(kSecret);
        return std::nullopt;
      },
      VerifierOptions{.region = "us-west-2", .service = "bedrock"});
  return verifier.Verify(SignableRequest{.method = HttpMethodName(request.method),
                                         .path = target,
                                         .query = query,
                                         .headers = request.headers,
                                         .body = request.body,
                                         .payload_sha256 = {}},
                         now);
}

TEST(HostHeaderForUrl, DropsDefaultPortsAndLowercasesLikeBotocore) {
  EXPECT_EQ(*HostHeaderForUrl("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse"),
            "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(*HostHeaderForUrl("https://Bedrock-Runtime.US-EAST-1.amazonaws.com:443/"),
            "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(*HostHeaderForUrl("http://127.0.0.1:80/x"), "127.0.0.1");
  EXPECT_EQ(*HostHeaderForUrl("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
  EXPECT_EQ(*HostHeaderForUrl("https://localhost:80"), "localhost:80");
  EXPECT_EQ(*HostHeaderForUrl("HTTP://user:pw@[::1]:4566/model"), "[::1]:4566");
  EXPECT_EQ(*HostHeaderForUrl("https://[::1]/"), "[::1]");
  EXPECT_EQ(*HostHeaderForUrl("https://example.com?x=1"), "example.com");
}

TEST(HostHeaderForUrl, RejectsWhatIsNotAnHttpUrl) {
  EXPECT_FALSE(HostHeaderForUrl("bedrock-runtime.us-east-1.amazonaws.com/model"));
  EXPECT_FALSE(HostHeaderForUrl("ftp://example.com/"));
  EXPECT_FALSE(HostHeaderForUrl("https:///path"));
  EXPECT_FALSE(HostHeaderForUrl("http://example.com:99999/"));
  EXPECT_FALSE(HostHeaderForUrl("http://example.com:12ab/"));
  EXPECT_FALSE(HostHeaderForUrl("http://[::1/"));
}

TEST(SignHttpRequest, SignedRequestVerifies) {
  HttpRequest request = ConverseRequest(
      "http://127.0.0.1:8123/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse");
  const Credentials credentials{std::string(kKeyId), std::string(kSecret), "session-token"};
  ASSERT_TRUE(SignHttpRequest(request, credentials, "us-west-2", "bedrock", SigningTime()));

  ASSERT_EQ(request.headers.size(), 5u);
  EXPECT_EQ(request.headers[0].first, "Content-Type");
  EXPECT_EQ(request.headers[1], (HeaderField{"Host", "127.0.0.1:8123"}));
  EXPECT_EQ(request.headers[2], (HeaderField{"X-Amz-Date", "20250102T030405Z"}));
  EXPECT_EQ(request.headers[3], (HeaderField{"X-Amz-Security-Token", "session-token"}));
  EXPECT_EQ(request.headers[4].first, "Authorization");
  EXPECT_THAT(request.headers[4].second,
              StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/us-west-2/bedrock/"
                         "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                         "x-amz-security-token, Signature="));
  EXPECT_FALSE(FindHeader(request.headers, "X-Amz-Content-SHA256"));

  const VerifyResult verified = VerifyAsServer(request, SigningTime() + std::chrono::seconds(30));
  EXPECT_TRUE(verified.ok()) << VerifyStatusName(verified.status) << ": " << verified.message;
}

TEST(SignHttpRequest, TamperedBodyFailsVerification) {
  HttpRequest request = ConverseRequest(
      "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/"
      "converse");
  ASSERT_TRUE(SignHttpRequest(request, {std::string(kKeyId), std::string(kSecret), ""}, "us-west-2",
                              "bedrock", SigningTime()));
  EXPECT_FALSE(FindHeader(request.headers, "X-Amz-Security-Token"));
  EXPECT_EQ(FindHeader(request.headers, "Host"), "bedrock-runtime.us-west-2.amazonaws.com");
  request.body += " ";
  EXPECT_EQ(VerifyAsServer(request, SigningTime()).status, VerifyStatus::kSignatureMismatch);
}

TEST(SignHttpRequest, ResigningReplacesTheEarlierSignature) {
  HttpRequest request = ConverseRequest("http://localhost:9000/model/m/converse?a=b%20c");
  const Credentials credentials{std::string(kKeyId), std::string(kSecret), "token"};
  ASSERT_TRUE(SignHttpRequest(request, credentials, "us-west-2", "bedrock", SigningTime()));
  const WallTime later = SigningTime() + std::chrono::minutes(2);
  ASSERT_TRUE(SignHttpRequest(request, credentials, "us-west-2", "bedrock", later));

  int dates = 0;
  int authorizations = 0;
  int hosts = 0;
  for (const auto& [name, value] : request.headers) {
    dates += name == "X-Amz-Date";
    authorizations += name == "Authorization";
    hosts += name == "Host";
  }
  EXPECT_EQ(dates, 1);
  EXPECT_EQ(authorizations, 1);
  EXPECT_EQ(hosts, 1);
  EXPECT_EQ(FindHeader(request.headers, "X-Amz-Date"), "20250102T030605Z");
  EXPECT_TRUE(VerifyAsServer(request, later).ok());
}

TEST(SignHttpRequest, KeepsAHostHeaderTheCallerSet) {
  HttpRequest request = ConverseRequest("http://10.0.0.7:8080/model/m/converse");
  request.headers.emplace_back("host", "bedrock.internal");
  ASSERT_TRUE(SignHttpRequest(request, {std::string(kKeyId), std::string(kSecret), ""}, "us-west-2",
                              "bedrock", SigningTime()));
  EXPECT_EQ(FindHeader(request.headers, "Host"), "bedrock.internal");
  EXPECT_TRUE(VerifyAsServer(request, SigningTime()).ok());
}

TEST(SignHttpRequest, ReportsBadInputAsErrors) {
  HttpRequest request = ConverseRequest("not a url");
  Status status = SignHttpRequest(request, {std::string(kKeyId), std::string(kSecret), ""},
                                  "us-west-2", "bedrock", SigningTime());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);

  request = ConverseRequest("https://example.com/");
  status = SignHttpRequest(request, {"", "", ""}, "us-west-2", "bedrock", SigningTime());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kAuth);
}

TEST(AuthorizeBearer, AddsOnlyTheAuthorizationHeader) {
  HttpRequest request = ConverseRequest("https://bedrock-runtime.us-east-1.amazonaws.com/m");
  request.headers.emplace_back("authorization", "AWS4-HMAC-SHA256 stale");
  ASSERT_TRUE(AuthorizeBearer(request, "ABSKexample"));
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[0].first, "Content-Type");
  EXPECT_EQ(request.headers[1], (HeaderField{"Authorization", "Bearer ABSKexample"}));

  const Status empty = AuthorizeBearer(request, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kAuth);
  EXPECT_THAT(empty.error().message, HasSubstr("bearer"));
}

}  // namespace
}  // namespace quotaflow::aws
