#include "emulator/service_quotas.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bedrock/base64.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kRegion = "us-east-1";
constexpr std::string_view kHaiku3 = "anthropic.claude-3-haiku-20240307-v1:0";
constexpr std::string_view kHaiku3Tpm = "L-8CE99163";   // on-demand TPM, 400,000 by default
constexpr std::string_view kSonnet4Tpd = "L-22F701C5";  // tokens per day: not adjustable

struct Reply {
  int status = 0;
  json::value body;
  server::ServerResponse raw;

  const json::object& object() const { return body.as_object(); }
  std::string type() const {
    const json::value* t = body.as_object().if_contains("__type");
    return t == nullptr ? "" : std::string(t->as_string());
  }
};

ServiceQuotasOptions Options(IncreasePolicy policy, Duration decide_after = Duration::zero()) {
  ServiceQuotasOptions options;
  options.policy = policy;
  options.decide_after = decide_after;
  return options;
}

std::string Str(const json::value& v) { return std::string(v.as_string()); }

class ServiceQuotasTest : public ::testing::Test {
 protected:
  // Builds the API under test; tests that need other options call it again.
  void Make(ServiceQuotasOptions options) {
    api_.reset();
    api_ = std::make_unique<ServiceQuotas>(table_, options, clock_,
                                           [this](Duration delay, std::function<void()> fn) {
                                             scheduled_.emplace_back(delay, std::move(fn));
                                           });
  }
  void SetUp() override { Make(ServiceQuotasOptions{}); }

  Reply Call(std::string_view operation, const json::object& body,
             std::string_view region = kRegion) {
    return CallRaw(operation, json::serialize(body), region);
  }
  Reply CallRaw(std::string_view operation, std::string_view body,
                std::string_view region = kRegion) {
    Reply reply;
    reply.raw = api_->Handle(region, operation, body, "req-1");
    reply.status = reply.raw.status;
    reply.body = json::parse(reply.raw.body);
    return reply;
  }

  Reply Increase(std::string_view code, double value, std::string_view region = kRegion) {
    return Call("RequestServiceQuotaIncrease",
                {{"ServiceCode", "bedrock"}, {"QuotaCode", code}, {"DesiredValue", value}}, region);
  }
  double AppliedValue(std::string_view code, std::string_view region = kRegion) {
    Reply r = Call("GetServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", code}}, region);
    EXPECT_EQ(r.status, 200) << r.raw.body;
    return r.object().at("Quota").at("Value").to_number<double>();
  }
  std::string RequestStatus(std::string_view id) {
    Reply r = Call("GetRequestedServiceQuotaChange", {{"RequestId", id}});
    EXPECT_EQ(r.status, 200) << r.raw.body;
    return Str(r.object().at("RequestedQuota").at("Status"));
  }
  int64_t LiveTpm() {
    return table_.QuotaFor(kRegion, *bedrock::ModelCatalog::Default().Resolve(kHaiku3))
        .tokens_per_period;
  }

  FakeClock clock_;
  QuotaTable table_{QuotaOptions{}, bedrock::ModelCatalog::Default()};
  std::vector<std::pair<Duration, std::function<void()>>> scheduled_;
  std::unique_ptr<ServiceQuotas> api_;
};

TEST_F(ServiceQuotasTest, ResponsesAreAwsJson11WithTheRequestId) {
  Reply r = Call("ListServices", {});
  ASSERT_EQ(r.status, 200);
  bool content_type = false, request_id = false;
  for (const auto& [name, value] : r.raw.headers) {
    if (name == "Content-Type") content_type = value == "application/x-amz-json-1.1";
    if (name == "x-amzn-RequestId") request_id = value == "req-1";
  }
  EXPECT_TRUE(content_type);
  EXPECT_TRUE(request_id);
  const json::array& services = r.object().at("Services").as_array();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(Str(services[0].at("ServiceCode")), "bedrock");
  EXPECT_EQ(Str(services[0].at("ServiceName")), "Amazon Bedrock");
}

TEST_F(ServiceQuotasTest, PaginationWalksEveryQuotaExactlyOnce) {
  std::vector<std::string> codes;
  json::object body{{"ServiceCode", "bedrock"}, {"MaxResults", 7}};
  int pages = 0;
  while (true) {
    Reply r = Call("ListServiceQuotas", body);
    ASSERT_EQ(r.status, 200) << r.raw.body;
    const json::array& quotas = r.object().at("Quotas").as_array();
    EXPECT_LE(quotas.size(), 7u);
    EXPECT_FALSE(quotas.empty());
    for (const json::value& q : quotas) codes.push_back(Str(q.at("QuotaCode")));
    ++pages;
    const json::value* next = r.object().if_contains("NextToken");
    if (next == nullptr) break;
    body["NextToken"] = *next;
  }
  EXPECT_EQ(codes.size(), table_.size());
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), table_.size());
  EXPECT_EQ(pages, static_cast<int>((table_.size() + 6) / 7));
}

TEST_F(ServiceQuotasTest, DefaultPageIsOneHundredQuotas) {
  ASSERT_GT(table_.size(), 100u);  // the embedded catalog needs more than one page
  Reply r = Call("ListAWSDefaultServiceQuotas", {{"ServiceCode", "bedrock"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.object().at("Quotas").as_array().size(), 100u);
  EXPECT_TRUE(r.object().contains("NextToken"));
}

TEST_F(ServiceQuotasTest, QuotaHasEveryServiceQuotaField) {
  Reply r = Call("GetServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}});
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const json::object& q = r.object().at("Quota").as_object();
  EXPECT_EQ(Str(q.at("ServiceCode")), "bedrock");
  EXPECT_EQ(Str(q.at("ServiceName")), "Amazon Bedrock");
  EXPECT_EQ(Str(q.at("QuotaArn")),
            "arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-8CE99163");
  EXPECT_EQ(Str(q.at("QuotaCode")), kHaiku3Tpm);
  EXPECT_EQ(Str(q.at("QuotaName")),
            "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
  EXPECT_TRUE(q.at("Value").is_double());  // QuotaValue is a double: 400000.0 on the wire
  EXPECT_EQ(q.at("Value").as_double(), 400'000.0);
  EXPECT_EQ(Str(q.at("Unit")), "None");
  EXPECT_EQ(q.at("Adjustable").as_bool(), true);
  EXPECT_EQ(q.at("GlobalQuota").as_bool(), false);
  EXPECT_EQ(q.at("Period").at("PeriodValue").as_int64(), 1);
  EXPECT_EQ(Str(q.at("Period").at("PeriodUnit")), "MINUTE");
  EXPECT_EQ(Str(q.at("QuotaAppliedAtLevel")), "ACCOUNT");
  EXPECT_FALSE(Str(q.at("Description")).empty());
  EXPECT_NE(r.raw.body.find("\"Value\":400000.0"), std::string::npos) << r.raw.body;
}

TEST_F(ServiceQuotasTest, DailyQuotaIsPerDayAndNotAdjustable) {
  Reply r = Call("GetServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", kSonnet4Tpd}});
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const json::object& q = r.object().at("Quota").as_object();
  EXPECT_EQ(Str(q.at("Period").at("PeriodUnit")), "DAY");
  EXPECT_EQ(q.at("Adjustable").as_bool(), false);
}

TEST_F(ServiceQuotasTest, AwsDefaultQuotasCarryNoAccountInTheirArn) {
  Reply r =
      Call("GetAWSDefaultServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}});
  ASSERT_EQ(r.status, 200) << r.raw.body;
  EXPECT_EQ(Str(r.object().at("Quota").at("QuotaArn")),
            "arn:aws:servicequotas:us-east-1::bedrock/L-8CE99163");
}

TEST_F(ServiceQuotasTest, BadPaginationTokensAreRefused) {
  Reply first = Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"MaxResults", 5}});
  ASSERT_EQ(first.status, 200);
  const std::string good = Str(first.object().at("NextToken"));
  const std::string bad[] = {
      "not-a-token!",
      bedrock::Base64Encode("ListServiceQuotas:0"),
      bedrock::Base64Encode("ListServiceQuotas:99999"),
      bedrock::Base64Encode("ListServiceQuotas:5x"),
      bedrock::Base64Encode("garbage"),
  };
  for (const std::string& token : bad) {
    Reply r = Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"NextToken", token}});
    EXPECT_EQ(r.status, 400) << token;
    EXPECT_EQ(r.type(), "InvalidPaginationTokenException") << token;
  }
  // A token only works for the operation that issued it.
  Reply other =
      Call("ListAWSDefaultServiceQuotas", {{"ServiceCode", "bedrock"}, {"NextToken", good}});
  EXPECT_EQ(other.type(), "InvalidPaginationTokenException");
  Reply history = Call("ListRequestedServiceQuotaChangeHistory", {{"NextToken", good}});
  EXPECT_EQ(history.type(), "InvalidPaginationTokenException");
}

TEST_F(ServiceQuotasTest, MaxResultsOutsideOneToHundredIsIllegal) {
  for (int n : {0, 101, -3}) {
    Reply r = Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"MaxResults", n}});
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.type(), "IllegalArgumentException") << n;
  }
}

TEST_F(ServiceQuotasTest, UnknownServiceOrQuotaIsNoSuchResource) {
  EXPECT_EQ(Call("ListServiceQuotas", {{"ServiceCode", "ec2"}}).type(), "NoSuchResourceException");
  EXPECT_EQ(
      Call("GetServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", "L-00000000"}}).type(),
      "NoSuchResourceException");
  EXPECT_EQ(
      Call("GetAWSDefaultServiceQuota", {{"ServiceCode", "ec2"}, {"QuotaCode", kHaiku3Tpm}}).type(),
      "NoSuchResourceException");
  EXPECT_EQ(Increase("L-00000000", 5).type(), "NoSuchResourceException");
  EXPECT_EQ(Call("ListRequestedServiceQuotaChangeHistoryByQuota",
                 {{"ServiceCode", "bedrock"}, {"QuotaCode", "L-00000000"}})
                .type(),
            "NoSuchResourceException");
  EXPECT_EQ(Call("GetRequestedServiceQuotaChange", {{"RequestId", "nope"}}).type(),
            "NoSuchResourceException");
}

TEST_F(ServiceQuotasTest, MissingOrMistypedFieldsAreClientErrors) {
  EXPECT_EQ(Call("ListServiceQuotas", {}).type(), "IllegalArgumentException");
  EXPECT_EQ(Call("ListServiceQuotas", {{"ServiceCode", 5}}).type(), "SerializationException");
  EXPECT_EQ(Call("RequestServiceQuotaIncrease",
                 {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}, {"DesiredValue", "1"}})
                .type(),
            "SerializationException");
  EXPECT_EQ(
      Call("RequestServiceQuotaIncrease", {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}})
          .type(),
      "IllegalArgumentException");
  for (std::string_view body : {"{", "[]", "nul", "{\"ServiceCode\":"}) {
    Reply r = CallRaw("ListServiceQuotas", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.type(), "SerializationException") << body;
  }
  EXPECT_EQ(CallRaw("ListServices", "").status, 200);  // an empty body is an empty object
  EXPECT_EQ(Call("DeleteServiceQuota", {}).type(), "UnknownOperationException");
}

TEST_F(ServiceQuotasTest, QuotaCodeAndLevelFiltersNarrowTheList) {
  Reply one = Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}});
  ASSERT_EQ(one.status, 200);
  ASSERT_EQ(one.object().at("Quotas").as_array().size(), 1u);
  EXPECT_EQ(Str(one.object().at("Quotas").as_array()[0].at("QuotaCode")), kHaiku3Tpm);
  Reply resource =
      Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"QuotaAppliedAtLevel", "RESOURCE"}});
  ASSERT_EQ(resource.status, 200);
  EXPECT_TRUE(resource.object().at("Quotas").as_array().empty());
  EXPECT_FALSE(resource.object().contains("NextToken"));
  EXPECT_EQ(
      Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"QuotaAppliedAtLevel", "BUCKET"}})
          .type(),
      "IllegalArgumentException");
}

TEST_F(ServiceQuotasTest, IncreaseApprovedAtOnceMovesTheLiveQuota) {
  int changes = 0;
  table_.OnChange([&](std::string_view region) {
    EXPECT_EQ(region, kRegion);
    ++changes;
  });
  Reply r = Increase(kHaiku3Tpm, 2'000'000);
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const json::object& q = r.object().at("RequestedQuota").as_object();
  EXPECT_EQ(Str(q.at("Status")), "APPROVED");
  EXPECT_EQ(q.at("DesiredValue").as_double(), 2'000'000.0);
  EXPECT_EQ(changes, 1);
  EXPECT_TRUE(scheduled_.empty());
  EXPECT_EQ(AppliedValue(kHaiku3Tpm), 2'000'000);
  EXPECT_EQ(LiveTpm(), 2'000'000);
  // The AWS default stays where it was, and other regions are untouched.
  Reply defaults =
      Call("GetAWSDefaultServiceQuota", {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}});
  EXPECT_EQ(defaults.object().at("Quota").at("Value").as_double(), 400'000.0);
  EXPECT_EQ(AppliedValue(kHaiku3Tpm, "us-west-2"), 400'000);
}

TEST_F(ServiceQuotasTest, RequestedChangeHasEveryField) {
  const double created = std::chrono::duration<double>(clock_.WallNow().time_since_epoch()).count();
  Reply r = Increase(kHaiku3Tpm, 500'000);
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const json::object& q = r.object().at("RequestedQuota").as_object();
  EXPECT_FALSE(Str(q.at("Id")).empty());
  EXPECT_FALSE(Str(q.at("CaseId")).empty());
  EXPECT_EQ(Str(q.at("ServiceCode")), "bedrock");
  EXPECT_EQ(Str(q.at("ServiceName")), "Amazon Bedrock");
  EXPECT_EQ(Str(q.at("QuotaCode")), kHaiku3Tpm);
  EXPECT_EQ(Str(q.at("QuotaName")),
            "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
  EXPECT_EQ(q.at("Created").to_number<double>(), created);
  EXPECT_EQ(q.at("LastUpdated").to_number<double>(), created);
  // Requester is a JSON document inside a string.
  const json::value requester = json::parse(Str(q.at("Requester")));
  EXPECT_EQ(Str(requester.at("accountId")), "123456789012");
  EXPECT_EQ(Str(q.at("QuotaArn")),
            "arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-8CE99163");
  EXPECT_EQ(q.at("GlobalQuota").as_bool(), false);
  EXPECT_EQ(Str(q.at("Unit")), "None");
  EXPECT_EQ(Str(q.at("QuotaRequestedAtLevel")), "ACCOUNT");
}

TEST_F(ServiceQuotasTest, IncreaseApprovedAfterTheDelayWhenTheClockGetsThere) {
  Make(Options(IncreasePolicy::kApprove, minutes(10)));
  Reply r = Increase(kHaiku3Tpm, 900'000);
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const json::object& q = r.object().at("RequestedQuota").as_object();
  EXPECT_EQ(Str(q.at("Status")), "PENDING");
  const std::string id = Str(q.at("Id"));
  const double created = q.at("Created").to_number<double>();
  ASSERT_EQ(scheduled_.size(), 1u);
  EXPECT_EQ(scheduled_[0].first, minutes(10));

  clock_.Advance(minutes(10) - seconds(1));
  EXPECT_EQ(RequestStatus(id), "PENDING");
  EXPECT_EQ(LiveTpm(), 400'000);

  clock_.Advance(seconds(1));
  Reply got = Call("GetRequestedServiceQuotaChange", {{"RequestId", id}});
  const json::object& decided = got.object().at("RequestedQuota").as_object();
  EXPECT_EQ(Str(decided.at("Status")), "APPROVED");
  EXPECT_EQ(decided.at("LastUpdated").to_number<double>(), created + 600);
  EXPECT_EQ(LiveTpm(), 900'000);
  EXPECT_EQ(AppliedValue(kHaiku3Tpm), 900'000);
}

TEST_F(ServiceQuotasTest, ScheduledCallbackApprovesWithoutAnotherCall) {
  Make(Options(IncreasePolicy::kApprove, minutes(1)));
  ASSERT_EQ(Increase(kHaiku3Tpm, 700'000).status, 200);
  ASSERT_EQ(scheduled_.size(), 1u);
  clock_.Advance(minutes(1));
  scheduled_[0].second();
  EXPECT_EQ(LiveTpm(), 700'000);
}

TEST_F(ServiceQuotasTest, CallbackOutlivingTheApiDoesNothing) {
  Make(Options(IncreasePolicy::kApprove, minutes(1)));
  ASSERT_EQ(Increase(kHaiku3Tpm, 700'000).status, 200);
  ASSERT_EQ(scheduled_.size(), 1u);
  api_.reset();
  clock_.Advance(minutes(1));
  scheduled_[0].second();
  EXPECT_EQ(LiveTpm(), 400'000);
}

TEST_F(ServiceQuotasTest, DeniedIncreaseLeavesTheQuota) {
  Make(Options(IncreasePolicy::kDeny, seconds(30)));
  const std::string id = Str(Increase(kHaiku3Tpm, 800'000).object().at("RequestedQuota").at("Id"));
  EXPECT_EQ(RequestStatus(id), "PENDING");
  clock_.Advance(seconds(30));
  EXPECT_EQ(RequestStatus(id), "DENIED");
  EXPECT_EQ(AppliedValue(kHaiku3Tpm), 400'000);
  EXPECT_EQ(LiveTpm(), 400'000);
  // Once decided, the quota takes a new request.
  EXPECT_EQ(Increase(kHaiku3Tpm, 800'000).status, 200);
}

TEST_F(ServiceQuotasTest, DeniedAtOnceWithoutDelay) {
  Make(Options(IncreasePolicy::kDeny, Duration::zero()));
  Reply r = Increase(kHaiku3Tpm, 800'000);
  EXPECT_EQ(Str(r.object().at("RequestedQuota").at("Status")), "DENIED");
  EXPECT_EQ(LiveTpm(), 400'000);
}

TEST_F(ServiceQuotasTest, PendingPolicyNeverDecides) {
  Make(Options(IncreasePolicy::kPending, Duration::zero()));
  const std::string id = Str(Increase(kHaiku3Tpm, 800'000).object().at("RequestedQuota").at("Id"));
  clock_.Advance(std::chrono::hours(48));
  EXPECT_EQ(RequestStatus(id), "PENDING");
  EXPECT_TRUE(scheduled_.empty());
  EXPECT_EQ(LiveTpm(), 400'000);
}

TEST_F(ServiceQuotasTest, SecondRequestWhileOneIsPendingAlreadyExists) {
  Make(Options(IncreasePolicy::kPending));
  ASSERT_EQ(Increase(kHaiku3Tpm, 800'000).status, 200);
  Reply second = Increase(kHaiku3Tpm, 900'000);
  EXPECT_EQ(second.status, 400);
  EXPECT_EQ(second.type(), "ResourceAlreadyExistsException");
  // Another region's quota is another quota.
  EXPECT_EQ(Increase(kHaiku3Tpm, 900'000, "eu-west-1").status, 200);
}

TEST_F(ServiceQuotasTest, DesiredValueNotAboveTheCurrentValueIsRefused) {
  for (double value : {400'000.0, 1.0}) {
    Reply r = Increase(kHaiku3Tpm, value);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.type(), "IllegalArgumentException");
    EXPECT_NE(Str(r.object().at("message")).find("greater than the current value 400000.0"),
              std::string::npos)
        << r.raw.body;
  }
  ASSERT_EQ(Increase(kHaiku3Tpm, 600'000).status, 200);  // approved at once
  EXPECT_EQ(Increase(kHaiku3Tpm, 500'000).type(), "IllegalArgumentException");
  EXPECT_EQ(Increase(kHaiku3Tpm, -1).type(), "IllegalArgumentException");
}

TEST_F(ServiceQuotasTest, NonAdjustableQuotaIsRefused) {
  Reply r = Increase(kSonnet4Tpd, 2e9);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.type(), "IllegalArgumentException");
  EXPECT_NE(Str(r.object().at("message")).find("is not adjustable"), std::string::npos);
}

TEST_F(ServiceQuotasTest, HistoryFiltersByStatusServiceAndQuota) {
  Make(Options(IncreasePolicy::kApprove, minutes(5)));
  const std::string other_code = "L-2DC80978";  // Claude 3 Haiku on-demand RPM
  ASSERT_EQ(Increase(kHaiku3Tpm, 500'000).status, 200);
  clock_.Advance(minutes(5));
  ASSERT_EQ(Increase(kHaiku3Tpm, 600'000).status, 200);  // pending: the first was approved
  ASSERT_EQ(Increase(other_code, 10).status, 200);

  auto count = [&](std::string_view op, const json::object& body) {
    Reply r = Call(op, body);
    EXPECT_EQ(r.status, 200) << r.raw.body;
    return r.object().at("RequestedQuotas").as_array().size();
  };
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistory", {}), 3u);
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistory", {{"Status", "PENDING"}}), 2u);
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistory", {{"Status", "APPROVED"}}), 1u);
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistory", {{"ServiceCode", "ec2"}}), 0u);
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistoryByQuota",
                  {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}}),
            2u);
  EXPECT_EQ(count("ListRequestedServiceQuotaChangeHistoryByQuota",
                  {{"ServiceCode", "bedrock"}, {"QuotaCode", kHaiku3Tpm}, {"Status", "PENDING"}}),
            1u);
  EXPECT_EQ(
      count("ListRequestedServiceQuotaChangeHistory", {{"QuotaRequestedAtLevel", "RESOURCE"}}), 0u);
  EXPECT_EQ(Call("ListRequestedServiceQuotaChangeHistory", {{"Status", "MAYBE"}}).type(),
            "IllegalArgumentException");
  // Requests belong to the region they were made in.
  Reply elsewhere = Call("ListRequestedServiceQuotaChangeHistory", {}, "eu-west-1");
  EXPECT_TRUE(elsewhere.object().at("RequestedQuotas").as_array().empty());
}

TEST_F(ServiceQuotasTest, HistoryPaginationWalksEveryRequestOnce) {
  Make(Options(IncreasePolicy::kPending));
  std::set<std::string> made;
  // Distinct quotas (one pending each), interleaved with another region's requests.
  Reply list = Call("ListServiceQuotas", {{"ServiceCode", "bedrock"}, {"MaxResults", 100}});
  int n = 0;
  for (const json::value& q : list.object().at("Quotas").as_array()) {
    if (!q.at("Adjustable").as_bool()) continue;
    const std::string code = Str(q.at("QuotaCode"));
    Reply r = Increase(code, q.at("Value").to_number<double>() + 1);
    ASSERT_EQ(r.status, 200) << r.raw.body;
    made.insert(Str(r.object().at("RequestedQuota").at("Id")));
    ASSERT_EQ(Increase(code, q.at("Value").to_number<double>() + 2, "eu-west-1").status, 200);
    if (++n == 9) break;
  }
  std::set<std::string> seen;
  json::object body{{"MaxResults", 2}};
  while (true) {
    Reply r = Call("ListRequestedServiceQuotaChangeHistory", body);
    ASSERT_EQ(r.status, 200) << r.raw.body;
    const json::array& items = r.object().at("RequestedQuotas").as_array();
    EXPECT_FALSE(items.empty());
    for (const json::value& item : items) {
      EXPECT_TRUE(seen.insert(Str(item.at("Id"))).second);
    }
    const json::value* next = r.object().if_contains("NextToken");
    if (next == nullptr) break;
    body["NextToken"] = *next;
  }
  EXPECT_EQ(seen, made);
}

TEST_F(ServiceQuotasTest, RequestIsFoundOnlyInItsRegion) {
  Make(Options(IncreasePolicy::kPending));
  const std::string id = Str(Increase(kHaiku3Tpm, 800'000).object().at("RequestedQuota").at("Id"));
  EXPECT_EQ(RequestStatus(id), "PENDING");
  EXPECT_EQ(Call("GetRequestedServiceQuotaChange", {{"RequestId", id}}, "eu-west-1").type(),
            "NoSuchResourceException");
}

TEST_F(ServiceQuotasTest, ListingShowsAppliedValuesAndDefaultsSeparately) {
  ASSERT_EQ(Increase(kHaiku3Tpm, 1'500'000).status, 200);
  auto value_in = [&](std::string_view op) {
    json::object body{{"ServiceCode", "bedrock"}};
    while (true) {
      Reply r = Call(op, body);
      for (const json::value& q : r.object().at("Quotas").as_array()) {
        if (Str(q.at("QuotaCode")) == kHaiku3Tpm) return q.at("Value").to_number<double>();
      }
      const json::value* next = r.object().if_contains("NextToken");
      if (next == nullptr) return -1.0;
      body["NextToken"] = *next;
    }
  };
  EXPECT_EQ(value_in("ListServiceQuotas"), 1'500'000);
  EXPECT_EQ(value_in("ListAWSDefaultServiceQuotas"), 400'000);
}

}  // namespace
}  // namespace quotaflow::emulator
