// ServiceQuotasClient over real HTTP: against an in-process Emulator (every page, increases,
// the service's errors) and against a scripted server (the wire format, throttle retries,
// pagination faults).
#include "bedrock/service_quotas_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "bedrock/control_test_util.h"
#include "bedrock/model_catalog.h"
#include "bedrock/quota_match.h"
#include "emulator/quota_table.h"

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;
using control_test::JsonAnswer;
using ::testing::HasSubstr;

constexpr char kHaikuTpm[] = "L-8CE99163";    // On-demand TPM of Claude 3 Haiku (a real code)
constexpr char kSonnet4Tpd[] = "L-22F701C5";  // tokens per day of Claude Sonnet 4

class ServiceQuotasClientTest : public control_test::ControlPlaneTest {
 protected:
  std::unique_ptr<ServiceQuotasClient> Client(ServiceQuotasClientOptions options) {
    Result<std::unique_ptr<ServiceQuotasClient>> client =
        ServiceQuotasClient::Create(*http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }
  std::unique_ptr<ServiceQuotasClient> Client() { return Client(ClientOptions()); }
};

// What the emulator's Service Quotas holds for the embedded catalog and default options.
size_t EmulatorTableSize() {
  const emulator::QuotaTable table(emulator::QuotaOptions{}, ModelCatalog::Default());
  return table.size();
}

TEST_F(ServiceQuotasClientTest, ListServiceQuotasWalksEveryPage) {
  StartEmulator();
  ServiceQuotasClientOptions small_pages = ClientOptions();
  small_pages.page_size = 7;
  auto client = Client(small_pages);
  ASSERT_NE(client, nullptr);
  Result<std::vector<ServiceQuota>> quotas = client->ListServiceQuotas();
  ASSERT_TRUE(quotas) << quotas.error().ToString();
  const size_t expected = EmulatorTableSize();
  ASSERT_GT(expected, 7u * 3);  // several pages, the last one partial or full
  EXPECT_EQ(quotas->size(), expected);

  std::set<std::string> codes;
  for (const ServiceQuota& q : *quotas) {
    codes.insert(q.code);
    EXPECT_EQ(q.source, QuotaValueSource::kApplied);
    EXPECT_EQ(q.service_code, "bedrock");
    EXPECT_TRUE(q.code.starts_with("L-")) << q.code;
  }
  EXPECT_EQ(codes.size(), expected) << "a page was fetched twice";

  // One page of 100 gives the same list in the same order.
  Result<std::vector<ServiceQuota>> big_pages = Client()->ListServiceQuotas();
  ASSERT_TRUE(big_pages);
  ASSERT_EQ(big_pages->size(), quotas->size());
  for (size_t i = 0; i < quotas->size(); ++i) EXPECT_EQ((*big_pages)[i].code, (*quotas)[i].code);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ServiceQuotasClientTest, ListedQuotaHasEveryField) {
  StartEmulator();
  Result<std::vector<ServiceQuota>> quotas = Client()->ListServiceQuotas();
  ASSERT_TRUE(quotas);
  auto it = std::find_if(quotas->begin(), quotas->end(),
                         [](const ServiceQuota& q) { return q.code == kHaikuTpm; });
  ASSERT_NE(it, quotas->end());
  EXPECT_EQ(it->name, "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
  EXPECT_EQ(it->value, 400'000);
  EXPECT_TRUE(it->adjustable);
  EXPECT_EQ(it->unit, "None");
  ASSERT_TRUE(it->period.has_value());
  EXPECT_EQ(it->period->value, 1);
  EXPECT_EQ(it->period->unit, "MINUTE");
  EXPECT_EQ(it->arn, "arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-8CE99163");
  EXPECT_FALSE(it->global);
  EXPECT_FALSE(it->description.empty());
  EXPECT_FALSE(it->default_value.has_value());  // ListServiceQuotas does not say

  Result<ServiceQuota> daily = Client()->GetServiceQuota(kSonnet4Tpd);
  ASSERT_TRUE(daily) << daily.error().ToString();
  EXPECT_FALSE(daily->adjustable);
  ASSERT_TRUE(daily->period.has_value());
  EXPECT_EQ(daily->period->unit, "DAY");
}

TEST_F(ServiceQuotasClientTest, DefaultQuotasWalkEveryPageAndCarryTheirDefault) {
  StartEmulator();
  ServiceQuotasClientOptions small_pages = ClientOptions();
  small_pages.page_size = 10;
  Result<std::vector<ServiceQuota>> defaults = Client(small_pages)->ListAWSDefaultServiceQuotas();
  ASSERT_TRUE(defaults) << defaults.error().ToString();
  EXPECT_EQ(defaults->size(), EmulatorTableSize());
  for (const ServiceQuota& q : *defaults) {
    EXPECT_EQ(q.source, QuotaValueSource::kDefault);
    ASSERT_TRUE(q.default_value.has_value());
    EXPECT_EQ(*q.default_value, q.value);
  }
  Result<ServiceQuota> haiku = Client()->GetAWSDefaultServiceQuota(kHaikuTpm);
  ASSERT_TRUE(haiku);
  EXPECT_EQ(haiku->arn, "arn:aws:servicequotas:us-east-1::bedrock/L-8CE99163");
  EXPECT_EQ(haiku->value, 400'000);
}

TEST_F(ServiceQuotasClientTest, ApprovedIncreaseShowsInGetServiceQuotaAndHistory) {
  StartEmulator();  // approves at once (ServiceQuotasOptions' default)
  auto client = Client();
  const WallTime before = SystemClock().WallNow() - std::chrono::seconds(1);
  Result<RequestedChange> change = client->RequestServiceQuotaIncrease(kHaikuTpm, 500'000);
  ASSERT_TRUE(change) << change.error().ToString();
  EXPECT_EQ(change->status, RequestStatus::kApproved);
  EXPECT_EQ(change->status_text, "APPROVED");
  EXPECT_EQ(change->code, kHaikuTpm);
  EXPECT_EQ(change->name,
            "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
  EXPECT_EQ(change->desired, 500'000);
  EXPECT_FALSE(change->id.empty());
  EXPECT_FALSE(change->case_id.empty());
  EXPECT_GE(change->created, before);
  EXPECT_GE(change->last_updated, change->created);
  EXPECT_EQ(change->arn, "arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-8CE99163");

  Result<ServiceQuota> applied = client->GetServiceQuota(kHaikuTpm);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->value, 500'000);
  Result<ServiceQuota> by_default = client->GetAWSDefaultServiceQuota(kHaikuTpm);
  ASSERT_TRUE(by_default);
  EXPECT_EQ(by_default->value, 400'000);

  Result<RequestedChange> again = client->GetRequestedServiceQuotaChange(change->id);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->id, change->id);
  EXPECT_EQ(again->status, RequestStatus::kApproved);

  Result<std::vector<RequestedChange>> history = client->ListRequestedServiceQuotaChangeHistory();
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].id, change->id);
  Result<std::vector<RequestedChange>> by_quota =
      client->ListRequestedServiceQuotaChangeHistoryByQuota(kHaikuTpm, RequestStatus::kApproved);
  ASSERT_TRUE(by_quota);
  ASSERT_EQ(by_quota->size(), 1u);
  Result<std::vector<RequestedChange>> denied =
      client->ListRequestedServiceQuotaChangeHistoryByQuota(kHaikuTpm, RequestStatus::kDenied);
  ASSERT_TRUE(denied);
  EXPECT_TRUE(denied->empty());

  // The merged listing shows the applied value against its default.
  Result<std::vector<ServiceQuota>> listed = client->ListServiceQuotas();
  Result<std::vector<ServiceQuota>> defaults = client->ListAWSDefaultServiceQuotas();
  ASSERT_TRUE(listed && defaults);
  const std::vector<ServiceQuota> merged = MergeQuotas(*listed, *defaults);
  auto it = std::find_if(merged.begin(), merged.end(),
                         [](const ServiceQuota& q) { return q.code == kHaikuTpm; });
  ASSERT_NE(it, merged.end());
  EXPECT_EQ(it->value, 500'000);
  EXPECT_EQ(it->default_value, 400'000);
  EXPECT_EQ(it->source, QuotaValueSource::kApplied);
}

TEST_F(ServiceQuotasClientTest, RequestHistoryWalksEveryPage) {
  StartEmulator();
  auto client = Client();
  // Three quotas raised, listed one per page.
  const char* codes[] = {kHaikuTpm, "L-2DC80978", "L-A50569E5"};
  for (const char* code : codes) {
    Result<ServiceQuota> current = client->GetServiceQuota(code);
    ASSERT_TRUE(current) << code;
    ASSERT_TRUE(client->RequestServiceQuotaIncrease(code, current->value + 10)) << code;
  }
  ServiceQuotasClientOptions one_per_page = ClientOptions();
  one_per_page.page_size = 1;
  Result<std::vector<RequestedChange>> history =
      Client(one_per_page)->ListRequestedServiceQuotaChangeHistory();
  ASSERT_TRUE(history) << history.error().ToString();
  ASSERT_EQ(history->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*history)[i].code, codes[i]);
}

TEST_F(ServiceQuotasClientTest, PendingRequestBlocksASecondOne) {
  emulator::EmulatorOptions options = FastOptions();
  options.service_quotas.policy = emulator::IncreasePolicy::kPending;
  StartEmulator(options);
  auto client = Client();
  Result<RequestedChange> first = client->RequestServiceQuotaIncrease(kHaikuTpm, 600'000);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->status, RequestStatus::kPending);

  Result<RequestedChange> second = client->RequestServiceQuotaIncrease(kHaikuTpm, 700'000);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().aws_code, "ResourceAlreadyExistsException");
  EXPECT_EQ(second.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(second.error().message, HasSubstr(first->id));

  ChangeHistoryFilter pending;
  pending.status = RequestStatus::kPending;
  Result<std::vector<RequestedChange>> listed =
      client->ListRequestedServiceQuotaChangeHistory(pending);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);
  Result<ServiceQuota> unchanged = client->GetServiceQuota(kHaikuTpm);
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->value, 400'000);
  EXPECT_TRUE(sleeps_.empty());  // client errors are not retried
}

TEST_F(ServiceQuotasClientTest, ServiceErrorsKeepTheirCodeAndMessage) {
  StartEmulator();
  auto client = Client();

  Result<ServiceQuota> unknown = client->GetServiceQuota("L-00000000");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().aws_code, "NoSuchResourceException");
  EXPECT_EQ(unknown.error().http_status, 400);
  EXPECT_FALSE(unknown.error().request_id.empty());
  EXPECT_EQ(unknown.error().message,
            "The request failed because the quota L-00000000 does not exist for service bedrock.");

  Result<std::vector<ServiceQuota>> other_service = client->ListServiceQuotas("ec2");
  ASSERT_FALSE(other_service);
  EXPECT_EQ(other_service.error().aws_code, "NoSuchResourceException");

  Result<RequestedChange> lower = client->RequestServiceQuotaIncrease(kHaikuTpm, 1'000);
  ASSERT_FALSE(lower);
  EXPECT_EQ(lower.error().aws_code, "IllegalArgumentException");
  EXPECT_EQ(lower.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(lower.error().message, HasSubstr("must be greater than the current value"));

  Result<RequestedChange> fixed = client->RequestServiceQuotaIncrease(kSonnet4Tpd, 1e12);
  ASSERT_FALSE(fixed);
  EXPECT_EQ(fixed.error().aws_code, "IllegalArgumentException");

  Result<RequestedChange> no_request = client->GetRequestedServiceQuotaChange("nope");
  ASSERT_FALSE(no_request);
  EXPECT_EQ(no_request.error().aws_code, "NoSuchResourceException");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ServiceQuotasClientTest, UnknownCredentialsAreAnAuthError) {
  StartEmulator();
  aws::StaticCredentialsProvider stranger(aws::Credentials{"AKIDSTRANGER", "secret", ""});
  ServiceQuotasClientOptions options = ClientOptions();
  options.credentials = &stranger;
  Result<std::vector<ServiceQuota>> quotas = Client(options)->ListServiceQuotas();
  ASSERT_FALSE(quotas);
  EXPECT_EQ(quotas.error().code, ErrorCode::kAuth);
  EXPECT_EQ(quotas.error().aws_code, "UnrecognizedClientException");
}

TEST_F(ServiceQuotasClientTest, IncreasesAreKeptPerRegion) {
  StartEmulator();
  ASSERT_TRUE(Client()->RequestServiceQuotaIncrease(kHaikuTpm, 450'000));
  ServiceQuotasClientOptions west = ClientOptions();
  west.region = "us-west-2";
  Result<ServiceQuota> elsewhere = Client(west)->GetServiceQuota(kHaikuTpm);
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->value, 400'000);
  EXPECT_EQ(elsewhere->arn, "arn:aws:servicequotas:us-west-2:123456789012:bedrock/L-8CE99163");
}

constexpr char kQuotaBody[] =
    R"({"Quota":{"ServiceCode":"bedrock","QuotaCode":"L-1","QuotaName":"Q","Value":5.0,)"
    R"("Adjustable":true,"Unit":"None","GlobalQuota":false}})";
constexpr char kThrottleBody[] =
    R"({"__type":"com.amazonaws.servicequotas#TooManyRequestsException","Message":"Rate exceeded"})";

TEST_F(ServiceQuotasClientTest, SendsAwsJson11SignedForServiceQuotas) {
  StartScripted({JsonAnswer(200, kQuotaBody)});
  ServiceQuotasClientOptions options = ClientOptions(scripted_->endpoint());
  options.region = "eu-central-1";
  Result<ServiceQuota> quota = Client(options)->GetServiceQuota("L-1");
  ASSERT_TRUE(quota) << quota.error().ToString();
  EXPECT_EQ(quota->value, 5);

  const std::vector<server::ServerRequest> requests = scripted_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const server::ServerRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Target"), "ServiceQuotasV20190624.GetServiceQuota");
  EXPECT_EQ(FindHeader(r.headers, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_FALSE(FindHeader(r.headers, "x-amzn-query-mode").has_value());
  EXPECT_TRUE(FindHeader(r.headers, "X-Amz-Date").has_value());
  EXPECT_THAT(std::string(FindHeader(r.headers, "Authorization").value_or("")),
              HasSubstr("/eu-central-1/servicequotas/aws4_request"));
  const json::value body = json::parse(r.body);
  EXPECT_EQ(body, (json::value{{"ServiceCode", "bedrock"}, {"QuotaCode", "L-1"}}));
}

TEST_F(ServiceQuotasClientTest, ThrottlesAreRetriedWithBackoff) {
  StartScripted({JsonAnswer(400, kThrottleBody), JsonAnswer(400, kThrottleBody),
                 JsonAnswer(200, kQuotaBody)});
  Result<ServiceQuota> quota = Client(ClientOptions(scripted_->endpoint()))->GetServiceQuota("L-1");
  ASSERT_TRUE(quota) << quota.error().ToString();
  EXPECT_EQ(scripted_->requests().size(), 3u);
  ASSERT_EQ(sleeps_.size(), 2u);
  // Full jitter: within [0, base x 2^(n-1)].
  EXPECT_LE(sleeps_[0], std::chrono::seconds(1));
  EXPECT_LE(sleeps_[1], std::chrono::seconds(2));
}

TEST_F(ServiceQuotasClientTest, ThrottleThatOutlastsTheAttemptsIsReported) {
  StartScripted({JsonAnswer(400, kThrottleBody)});
  ServiceQuotasClientOptions options = ClientOptions(scripted_->endpoint());
  options.retry.max_attempts = 2;
  Result<std::vector<ServiceQuota>> quotas = Client(options)->ListServiceQuotas();
  ASSERT_FALSE(quotas);
  EXPECT_EQ(quotas.error().code, ErrorCode::kThrottled);
  EXPECT_EQ(quotas.error().aws_code, "TooManyRequestsException");
  EXPECT_THAT(quotas.error().message, HasSubstr("Rate exceeded"));
  EXPECT_THAT(quotas.error().message, HasSubstr("gave up after 2 attempts"));
  EXPECT_EQ(scripted_->requests().size(), 2u);
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(ServiceQuotasClientTest, ServerFaultsAreRetriedButClientErrorsAreNot) {
  StartScripted({JsonAnswer(500, R"({"__type":"ServiceException","Message":"boom"})"),
                 JsonAnswer(400, R"({"__type":"IllegalArgumentException","Message":"bad"})")});
  Result<ServiceQuota> quota = Client(ClientOptions(scripted_->endpoint()))->GetServiceQuota("L-1");
  ASSERT_FALSE(quota);
  EXPECT_EQ(quota.error().aws_code, "IllegalArgumentException");
  EXPECT_EQ(quota.error().message, "bad");
  EXPECT_EQ(scripted_->requests().size(), 2u);
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(ServiceQuotasClientTest, RepeatedNextTokenIsAProtocolError) {
  StartScripted({JsonAnswer(200, R"({"Quotas":[],"NextToken":"again"})")});
  Result<std::vector<ServiceQuota>> quotas =
      Client(ClientOptions(scripted_->endpoint()))->ListServiceQuotas();
  ASSERT_FALSE(quotas);
  EXPECT_EQ(quotas.error().code, ErrorCode::kProtocol);
  EXPECT_THAT(quotas.error().message, HasSubstr("same NextToken"));
  EXPECT_EQ(scripted_->requests().size(), 2u);
}

TEST_F(ServiceQuotasClientTest, MalformedSuccessIsAProtocolError) {
  StartScripted({JsonAnswer(200, "<html>oops</html>"), JsonAnswer(200, R"({"Nothing":1})")});
  auto client = Client(ClientOptions(scripted_->endpoint()));
  Result<ServiceQuota> html = client->GetServiceQuota("L-1");
  ASSERT_FALSE(html);
  EXPECT_EQ(html.error().code, ErrorCode::kProtocol);
  Result<ServiceQuota> shapeless = client->GetServiceQuota("L-1");
  ASSERT_FALSE(shapeless);
  EXPECT_EQ(shapeless.error().code, ErrorCode::kProtocol);
  EXPECT_THAT(shapeless.error().message, HasSubstr("no Quota"));
}

TEST_F(ServiceQuotasClientTest, CreateChecksItsOptions) {
  ServiceQuotasClientOptions options;
  options.region = "eu-west-1";
  Result<std::unique_ptr<ServiceQuotasClient>> no_credentials =
      ServiceQuotasClient::Create(*http_, options);
  ASSERT_FALSE(no_credentials);
  EXPECT_EQ(no_credentials.error().code, ErrorCode::kInvalidArgument);

  options.credentials = &default_credentials_;
  Result<std::unique_ptr<ServiceQuotasClient>> regional =
      ServiceQuotasClient::Create(*http_, options);
  ASSERT_TRUE(regional) << regional.error().message;
  EXPECT_EQ((*regional)->options().endpoint, "https://servicequotas.eu-west-1.amazonaws.com");

  ServiceQuotasClientOptions bad_endpoint = options;
  bad_endpoint.endpoint = "ftp://example.com";
  EXPECT_FALSE(ServiceQuotasClient::Create(*http_, bad_endpoint));
  ServiceQuotasClientOptions bad_region = options;
  bad_region.region = "no such region!";
  EXPECT_FALSE(ServiceQuotasClient::Create(*http_, bad_region));
  ServiceQuotasClientOptions bad_page = options;
  bad_page.page_size = 0;
  EXPECT_FALSE(ServiceQuotasClient::Create(*http_, bad_page));
  ServiceQuotasClientOptions trailing_slash = options;
  trailing_slash.endpoint = "http://127.0.0.1:9/";
  Result<std::unique_ptr<ServiceQuotasClient>> trimmed =
      ServiceQuotasClient::Create(*http_, trailing_slash);
  ASSERT_TRUE(trimmed);
  EXPECT_EQ((*trimmed)->options().endpoint, "http://127.0.0.1:9");
}

TEST(ServiceQuotaParsing, ReadsErrorReasonAndToleratesMissingFields) {
  const json::value quota =
      json::parse(R"({"QuotaCode":"L-9","QuotaName":"Q","ErrorReason":)"
                  R"({"ErrorCode":"DEPENDENCY_ACCESS_DENIED_ERROR","ErrorMessage":"no access"}})");
  const ServiceQuota q = ParseServiceQuota(quota.as_object(), QuotaValueSource::kApplied);
  EXPECT_EQ(q.code, "L-9");
  EXPECT_EQ(q.value, 0);
  EXPECT_FALSE(q.period.has_value());
  EXPECT_EQ(q.error_reason, "DEPENDENCY_ACCESS_DENIED_ERROR: no access");
}

TEST(ServiceQuotaParsing, RequestTimestampsAreEpochSeconds) {
  const json::value change = json::parse(
      R"({"Id":"r1","Status":"CASE_OPENED","Created":1.7356896E9,"LastUpdated":1735689600.475,)"
      R"("DesiredValue":20})");
  const RequestedChange c = ParseRequestedChange(change.as_object());
  EXPECT_EQ(c.status, RequestStatus::kCaseOpened);
  EXPECT_EQ(c.desired, 20);
  EXPECT_EQ(c.created, WallTime(std::chrono::seconds(1'735'689'600)));
  EXPECT_EQ(c.last_updated,
            WallTime(std::chrono::seconds(1'735'689'600) + std::chrono::milliseconds(475)));
  EXPECT_EQ(ParseRequestStatus("SOMETHING_NEW"), RequestStatus::kUnknown);
  for (RequestStatus s : {RequestStatus::kPending, RequestStatus::kApproved,
                          RequestStatus::kNotApproved, RequestStatus::kInvalidRequest}) {
    EXPECT_EQ(ParseRequestStatus(RequestStatusName(s)), s);
  }
}

}  // namespace
}  // namespace quotaflow::bedrock
