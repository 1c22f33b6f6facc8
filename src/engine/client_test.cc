// quotaflow::Client end to end: real HTTP against an in-process emulator that counts quota with
// its own code (emulator/quota_books), in each of its three ways of counting a period.

#include "quotaflow/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aws/credentials_provider.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/control_test_util.h"
#include "bedrock/inference_profiles_client.h"
#include "bedrock/service_quotas_client.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "emulator/runtime_api.h"
#include "emulator/text_generator.h"

namespace quotaflow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kModel[] = "amazon.nova-lite-v1:0";

// A Converse body whose user text is `words` words long, asking for at most `max_tokens`.
std::string ConverseBody(int words, int64_t max_tokens, int salt = 0) {
  std::string text = "Summarize request " + std::to_string(salt) + ":";
  for (int i = 0; i < words; ++i) text += " clause" + std::to_string(i % 97);
  return R"({"messages":[{"role":"user","content":[{"text":")" + text +
         R"("}]}],"inferenceConfig":{"maxTokens":)" + std::to_string(max_tokens) + "}}";
}

emulator::EmulatorOptions FastEmulator(int64_t tpm, Duration period, emulator::CountingMode mode) {
  emulator::EmulatorOptions options = emulator::ImmediateEmulator(200);
  options.quotas.books.mode = mode;
  options.quotas.books.period = period;
  emulator::QuotaOverride quota;
  quota.model = kModel;
  quota.tokens_per_minute = tpm;
  options.quotas.overrides.push_back(quota);
  return options;
}

class ClientTest : public ::testing::Test {
 protected:
  void StartEmulator(emulator::EmulatorOptions options) {
    emulator_ = std::make_unique<emulator::Emulator>(std::move(options));
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
  }

  ClientOptions Options(int64_t tpm, Duration period) {
    ClientOptions options;
    options.endpoint = emulator_->endpoint();
    options.credentials = &credentials_;
    options.limits[kModel].tokens_per_minute = tpm;
    options.period = period;
    options.jitter_seed = 11;
    options.warn = [this](const std::string& w) {
      std::lock_guard lock(mu_);
      warnings_.push_back(w);
    };
    return options;
  }

  std::unique_ptr<Client> MakeClient(ClientOptions options) {
    auto client = Client::Create(std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }

  // Submits every request, waits for all, and returns the results in submission order.
  std::vector<RequestResult> RunAll(Client& client, const std::vector<ModelRequest>& requests,
                                    const std::vector<int>& priorities = {}) {
    std::vector<std::optional<RequestResult>> out(requests.size());
    std::mutex mu;
    for (size_t i = 0; i < requests.size(); ++i) {
      SubmitOptions o;
      o.priority = priorities.empty() ? kPriorityNormal : priorities[i];
      o.tag = i;
      client.Submit(requests[i], o, [&out, &mu, i](RequestResult r) {
        std::lock_guard lock(mu);
        out[i] = std::move(r);
      });
    }
    EXPECT_TRUE(client.WaitIdle(std::chrono::minutes(2)));
    std::vector<RequestResult> results;
    std::lock_guard lock(mu);
    for (auto& r : out) {
      EXPECT_TRUE(r.has_value());
      if (r) results.push_back(std::move(*r));
    }
    return results;
  }

  std::vector<std::string> warnings() {
    std::lock_guard lock(mu_);
    return warnings_;
  }

  aws::StaticCredentialsProvider credentials_{
      aws::Credentials{emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""}};
  std::unique_ptr<emulator::Emulator> emulator_;
  std::mutex mu_;
  std::vector<std::string> warnings_;  // guarded by mu_
};

std::vector<ModelRequest> Requests(int n, int words, int64_t max_tokens) {
  std::vector<ModelRequest> requests;
  for (int i = 0; i < n; ++i) {
    ModelRequest r;
    r.model_id = kModel;
    r.body = ConverseBody(words, max_tokens, i);
    requests.push_back(std::move(r));
  }
  return requests;
}

TEST_F(ClientTest, ConverseSettlesFromTheUsageTheServerReports) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(400'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(100, 500);
  RequestResult result = client->Call(request);
  ASSERT_TRUE(result) << result.error().error.ToString();
  EXPECT_FALSE(result->text.empty());
  EXPECT_EQ(result->usage.output_tokens, 200);
  EXPECT_GT(result->usage.input_tokens, 100);
  EXPECT_EQ(result->settled_tokens, result->usage.input_tokens + 200);  // burndown 1
  ClientStats stats = client->Stats();
  ASSERT_EQ(stats.models.size(), 1u);
  EXPECT_EQ(stats.models[0].completed, 1);
  EXPECT_EQ(stats.models[0].tokens_settled, result->settled_tokens);
  EXPECT_EQ(stats.models[0].limits.source, "config");
}

// TPM-bound: the quota is 60× the largest request, the period two seconds. Measured over the
// steady part (after the first period, up to the last start, the queue never empty), the tokens the
// server settled for the requests started there must be at least 95% of the quota, with zero 429s
// against the token bucket and at most 1 per 1,000 against the window counters.
class TpmBoundTest : public ClientTest,
                     public ::testing::WithParamInterface<emulator::CountingMode> {};

TEST_P(TpmBoundTest, UsesAtLeast95PercentOfTheTokenQuotaWithoutThrottles) {
  constexpr int64_t kTpm = 120'000;
  const Duration period = seconds(2);
  StartEmulator(FastEmulator(kTpm, period, GetParam()));
  auto client = MakeClient(Options(kTpm, period));
  // ~900 input tokens + max_tokens 1,000 reserved (< kTpm / 30); ~1,100 settled each.
  std::vector<ModelRequest> requests = Requests(480, 400, 1'000);
  auto largest = client->CostOf(requests[0]);
  ASSERT_TRUE(largest);
  ASSERT_LE(largest->tokens * 30, kTpm);

  std::vector<RequestResult> results = RunAll(*client, requests);
  ASSERT_EQ(results.size(), requests.size());
  SteadyTime first = SteadyTime::max();
  SteadyTime last = SteadyTime::min();
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    first = std::min(first, r->started);
    last = std::max(last, r->started);
  }
  const SteadyTime from = first + period;
  const SteadyTime to = last;
  ASSERT_GT(to - from, 2 * period) << "the run is too short to have a steady part";
  int64_t settled = 0;
  for (const RequestResult& r : results) {
    if (r->started >= from && r->started < to) settled += r->settled_tokens;
  }
  const double quota_in_window =
      static_cast<double>(kTpm) * ToSeconds(to - from) / ToSeconds(period);
  const double used = static_cast<double>(settled) / quota_in_window;
  EXPECT_GE(used, 0.95) << "steady-state use of the TPM quota";
  EXPECT_LE(used, 1.02) << "more than the quota: the server should have throttled";

  const ModelStats stats = client->Stats().models.at(0);
  if (GetParam() == emulator::CountingMode::kTokenBucket) {
    EXPECT_EQ(stats.throttles, 0);
  } else {
    EXPECT_LE(stats.throttles * 1000, static_cast<int64_t>(requests.size()));
  }
  EXPECT_EQ(stats.completed, static_cast<int64_t>(requests.size()));
}

INSTANTIATE_TEST_SUITE_P(EachServerCountingMode, TpmBoundTest,
                         ::testing::Values(emulator::CountingMode::kTokenBucket,
                                           emulator::CountingMode::kFixedWindow,
                                           emulator::CountingMode::kSlidingWindow));

Duration Quantile(std::vector<Duration> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

TEST_F(ClientTest, UnderSaturationHighFinishesBeforeNormalBeforeLowWithinTheAgingBound) {
  constexpr int64_t kTpm = 60'000;
  const Duration period = seconds(1);
  StartEmulator(FastEmulator(kTpm, period, emulator::CountingMode::kTokenBucket));
  ClientOptions options = Options(kTpm, period);
  auto client = MakeClient(options);
  // 240 requests, ~4 s of quota, queued at once in interleaved priorities.
  std::vector<ModelRequest> requests = Requests(240, 400, 1'000);
  std::vector<int> priorities;
  for (size_t i = 0; i < requests.size(); ++i) priorities.push_back(static_cast<int>(i % 3));
  const SteadyTime submitted = SystemClock().Now();
  std::vector<RequestResult> results = RunAll(*client, requests, priorities);
  std::map<int, std::vector<Duration>> completion;
  std::map<int, Duration> longest_wait;
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    completion[r->priority].push_back(r->finished - submitted);
    longest_wait[r->priority] = std::max(longest_wait[r->priority], r->waited);
  }
  for (double q : {0.5, 0.99}) {
    EXPECT_LT(Quantile(completion[kPriorityHigh], q), Quantile(completion[kPriorityNormal], q))
        << "quantile " << q;
    EXPECT_LT(Quantile(completion[kPriorityNormal], q), Quantile(completion[kPriorityLow], q))
        << "quantile " << q;
  }
  // scheduler.h: a low waiter waits at most one aging_step (its distance to normal, the top of
  // the aged classes) plus the time to serve what was ranked ahead of it then: here, all the
  // higher work (~3 s).
  const Duration bound = options.scheduler.aging_step + seconds(10);
  EXPECT_LT(longest_wait[kPriorityLow], bound);
}

TEST_F(ClientTest, QueuedRequestsArePricedAgainOnceTheEstimatorLearnsTheModelsPrompts) {
  constexpr int64_t kTpm = 10'000;  // per 1 s period: a backlog of ~8 s
  constexpr int64_t kMaxTokens = 300;
  const Duration period = seconds(1);
  StartEmulator(FastEmulator(kTpm, period, emulator::CountingMode::kSlidingWindow));
  auto client = MakeClient(Options(kTpm, period));
  // Prose, where the family's characters-per-token heuristic is well off this tokenizer's count.
  std::vector<ModelRequest> requests;
  for (int i = 0; i < 60; ++i) {
    const std::string text = emulator::GenerateText(emulator::MixSeed(5, i), 1'000);
    boost::json::object body{
        {"messages", boost::json::array{boost::json::object{
                         {"role", "user"},
                         {"content", boost::json::array{boost::json::object{{"text", text}}}}}}},
        {"inferenceConfig", boost::json::object{{"maxTokens", kMaxTokens}}}};
    ModelRequest r;
    r.model_id = kModel;
    r.body = boost::json::serialize(body);
    requests.push_back(std::move(r));
  }
  // What the server will charge (Nova has no CountTokens: ask the emulator's own measure).
  auto counted = emulator::ConverseInputTokens(kModel, requests[0].body);
  ASSERT_TRUE(counted) << counted.error().ToString();
  const double actual = static_cast<double>(*counted + kMaxTokens);  // what the server reserves
  auto price_of_queued = [&client] {
    const RouteStats route = client->Stats().routes.at(0);
    return route.queued > 0
               ? static_cast<double>(route.queued_tokens) / static_cast<double>(route.queued)
               : 0.0;
  };
  std::atomic<int> done{0};
  std::atomic<int> throttles{0};
  for (const ModelRequest& r : requests) {
    client->Submit(r, SubmitOptions{}, [&done, &throttles](const RequestResult& result) {
      EXPECT_TRUE(result) << result.error().error.ToString();
      if (result) throttles += result->throttles;
      ++done;
    });
  }
  // Submitted at once, before any answer: priced by the family heuristic alone.
  const double first_price = price_of_queued();
  EXPECT_GT(std::abs(first_price - actual), 0.05 * actual) << first_price << " vs " << actual;
  const SteadyTime until = SystemClock().Now() + seconds(30);
  while (done.load() < 12 && SystemClock().Now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  ASSERT_GE(done.load(), 12);
  // A dozen answers later the ones still queued are priced at the calibrated estimate: just above
  // what the server will reserve, never below it.
  const double repriced = price_of_queued();
  ASSERT_GT(repriced, 0.0) << "the queue drained before the test could look";
  EXPECT_GE(repriced, actual);
  EXPECT_LE(repriced, actual * 1.05);
  EXPECT_TRUE(client->WaitIdle(std::chrono::minutes(1)));
  EXPECT_EQ(done.load(), 60);
  EXPECT_EQ(throttles.load(), 0);
}

TEST_F(ClientTest, CountTokensAsksForTheModelAnInferenceProfileServes) {
  // Bedrock's CountTokens takes a foundation model only: a profile id is "invalid".
  constexpr char kProfile[] = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  StartEmulator(FastEmulator(10'000, seconds(1), emulator::CountingMode::kSlidingWindow));
  auto client = MakeClient(Options(10'000, seconds(1)));
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"Count me."}]}]})";
  auto counted = client->CountTokens(kProfile, body);
  ASSERT_TRUE(counted) << counted.error().ToString();
  EXPECT_EQ(*counted, *emulator::ConverseInputTokens(kProfile, body));
  // A model CountTokens does not count fails as Bedrock says, for the caller to estimate.
  auto nova = client->CountTokens(kModel, body);
  ASSERT_FALSE(nova);
  EXPECT_EQ(nova.error().aws_code, "ValidationException");
}

TEST_F(ClientTest, AModelCountTokensDoesNotCountForIsAskedOnce) {
  // Bedrock's answer for a model it does not count for, to every call.
  bedrock::control_test::ScriptedServer bedrock({bedrock::control_test::JsonAnswer(
      400,
      R"({"__type":"ValidationException",)"
      R"("message":"The provided model doesn't support counting tokens."})",
      "application/json")});
  bedrock.Start();
  ClientOptions options;
  options.endpoint = bedrock.endpoint();
  options.credentials = &credentials_;
  options.limits[kModel].tokens_per_minute = 10'000;
  auto client = MakeClient(std::move(options));
  const std::string body = ConverseBody(10, 100);
  for (int i = 0; i < 3; ++i) {
    auto counted = client->CountTokens(kModel, body);
    ASSERT_FALSE(counted);
    EXPECT_EQ(counted.error().aws_code, "ValidationException");
    EXPECT_EQ(counted.error().message, "The provided model doesn't support counting tokens.");
  }
  EXPECT_EQ(bedrock.requests().size(), 1u);
}

TEST_F(ClientTest, ARateThrottleIsRefundedCutAndRequeuedUntilTheRequestSucceeds) {
  // The server grants half what the client was told: it throttles, the client cuts its rate,
  // requeues, and every request still succeeds.
  const Duration period = seconds(1);
  StartEmulator(FastEmulator(20'000, period, emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(40'000, period));
  std::vector<RequestResult> results = RunAll(*client, Requests(60, 300, 500));
  int throttled = 0;
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    throttled += r->throttles;
  }
  const ModelStats stats = client->Stats().models.at(0);
  EXPECT_GT(stats.throttles, 0);
  EXPECT_EQ(stats.throttles, throttled);
  EXPECT_EQ(stats.completed, 60);
  EXPECT_GT(stats.limiter.server_throttles, 0);
}

TEST_F(ClientTest, AServerThatNeverAdmitsARequestFailsItOnceThePatienceRunsOutHoweverOftenItTried) {
  // The server's quota is below what the request reserves; the client was told a far larger one,
  // so only the server's 429s can say no. Each retry is throttled at once: the request gives up
  // after `throttle_patience_periods` of them, not after some number of tries.
  const Duration period = milliseconds(200);
  StartEmulator(FastEmulator(1'000, period, emulator::CountingMode::kTokenBucket));
  ClientOptions options = Options(100'000, period);
  options.throttle_patience_periods = 5;
  auto client = MakeClient(options);
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(50, 2'000);
  const SteadyTime before = SystemClock().Now();
  RequestResult result = client->Call(request);
  const Duration took = SystemClock().Now() - before;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.code, ErrorCode::kThrottled);
  EXPECT_NE(result.error().error.message.find("giving up"), std::string::npos)
      << result.error().error.message;
  // Many tries, however few a slow round trip allows (about ten when they are quick): the
  // patience is a time budget, which `took` shows.
  EXPECT_GE(result.error().throttles, 3) << result.error().error.message;
  EXPECT_GE(took, 5 * period);
  EXPECT_LT(took, seconds(30));
}

TEST_F(ClientTest, ThrottlesWhileAnotherApplicationHoldsTheWindowCostRetriesNotRequests) {
  // Another application fills the sliding window just before this client starts, as a restart
  // into a busy minute meets it: every request this client sends in that period is throttled,
  // some many times over, and every one still succeeds once the window frees. A 3 s period (the
  // same quota per period) leaves the client's first request ample time to land in that window.
  const Duration period = seconds(3);
  emulator::EmulatorOptions server =
      FastEmulator(20'000, period, emulator::CountingMode::kSlidingWindow);
  server.output.mean = 10;
  StartEmulator(std::move(server));
  {
    ClientOptions other = Options(20'000, period);
    other.limiter.initial_fill = 1.0;
    auto filler = MakeClient(other);
    std::vector<RequestResult> spent = RunAll(*filler, Requests(4, 2'300, 20));
    for (const RequestResult& r : spent) ASSERT_TRUE(r) << r.error().error.ToString();
  }
  auto client = MakeClient(Options(20'000, period));
  std::vector<RequestResult> results = RunAll(*client, Requests(30, 100, 50));
  int throttled = 0;
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    throttled += r->throttles;
  }
  EXPECT_GT(throttled, 0) << "the window was not full: the test shows nothing";
}

TEST_F(ClientTest, AValidationErrorFailsAtOnceWithTheServersMessage) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(400'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(10, 20'000);  // above Nova Lite's 10,000 maximum
  const SteadyTime before = SystemClock().Now();
  RequestResult result = client->Call(request);
  // Reserved at the model's maximum (what Bedrock would ever admit), so it does not wait 3 s for
  // 20,000 tokens of quota only to be refused.
  EXPECT_LT(SystemClock().Now() - before, seconds(2));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().error.aws_code, "ValidationException");
  EXPECT_EQ(result.error().attempts, 1);
  EXPECT_FALSE(result.error().charged);
  // Refunded: nothing is settled for it.
  EXPECT_EQ(client->Stats().models.at(0).limiter.settled_tokens, 0);
}

TEST_F(ClientTest, AnUnknownModelFailsThroughTheCallback) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(400'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.model_id = "acme.no-such-model-v1:0";
  request.body = ConverseBody(10, 100);
  RequestResult result = client->Call(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.code, ErrorCode::kNotFound);
}

TEST_F(ClientTest, ARequestLargerThanAPeriodsQuotaFailsAsImpossible) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(1'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(10, 5'000);
  RequestResult result = client->Call(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.code, ErrorCode::kImpossible);
}

TEST_F(ClientTest, AResponseDatesItsRequestSoTheNextStartsWhenTheServerHasForgottenIt) {
  // Two requests whose charges do not fit one 2 s sliding window together: the second may start
  // once the first has left the server's window. The server answers after 300 ms and says so; the
  // guard's margin for an undated start is a whole period, so that an undated first would hold
  // the second until 4 s, far from the 2 s a dated one allows.
  const Duration period = seconds(2);
  emulator::EmulatorOptions eo = FastEmulator(500, period, emulator::CountingMode::kSlidingWindow);
  eo.latency.time_to_first_token = milliseconds(300);
  StartEmulator(eo);
  ClientOptions options = Options(500, period);
  options.limiter.initial_fill = 1.0;
  options.limiter.window_margin = period;  // the largest Validate allows
  auto client = MakeClient(options);
  std::vector<RequestResult> results = RunAll(*client, Requests(2, 50, 300));
  ASSERT_EQ(results.size(), 2U);
  ASSERT_TRUE(results[0]) << results[0].error().error.ToString();
  ASSERT_TRUE(results[1]) << results[1].error().error.ToString();
  EXPECT_EQ(results[0]->throttles + results[1]->throttles, 0);
  // Dated by the latency it reported, the first leaves the guard about a period after the server
  // counted it, not two periods after its grant.
  const Duration apart = results[1]->started - results[0]->started;
  EXPECT_GE(apart, period);
  EXPECT_LT(apart, period + seconds(1));
}

TEST_F(ClientTest, TransientFaultsCostRetriesNotRequests) {
  emulator::EmulatorOptions eo =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  eo.faults.service_unavailable = 0.1;
  eo.seed = 5;
  StartEmulator(eo);
  ClientOptions options = Options(400'000, std::chrono::minutes(1));
  options.transient_backoff = milliseconds(10);
  auto client = MakeClient(options);
  std::vector<RequestResult> results = RunAll(*client, Requests(100, 50, 100));
  int attempts = 0;
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    attempts += r->attempts;
  }
  EXPECT_GT(attempts, 100) << "some requests met a 503 and were retried";
  EXPECT_EQ(client->Stats().models.at(0).completed, 100);
}

TEST_F(ClientTest, AFailingServerIsTriedTheConfiguredNumberOfTimesAtTheConfiguredBackoff) {
  emulator::EmulatorOptions eo =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  eo.faults.service_unavailable = 1.0;
  StartEmulator(eo);
  ClientOptions options = Options(400'000, std::chrono::minutes(1));
  options.attempts = 4;
  options.retry_base_backoff = milliseconds(1);
  options.retry_max_backoff = milliseconds(2);
  options.max_transient_requeues = 1;
  options.transient_backoff = milliseconds(1);
  auto client = MakeClient(options);
  const auto begun = std::chrono::steady_clock::now();
  std::vector<RequestResult> results = RunAll(*client, Requests(1, 50, 100));
  const auto took = std::chrono::steady_clock::now() - begun;
  ASSERT_EQ(results.size(), 1U);
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(results[0].error().error.code, ErrorCode::kUnavailable)
      << results[0].error().error.ToString();
  // Four attempts in place, then once more from the queue: four again.
  EXPECT_EQ(results[0].error().attempts, 8);
  // The default backoff (1 s base, 20 s most) takes 3.5 s for the six retries with this seed;
  // these take milliseconds.
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_F(ClientTest, ModelNotReadyIsRetriedWithoutCuttingTheRate) {
  emulator::EmulatorOptions eo =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  eo.faults.model_not_ready = 0.2;
  eo.seed = 9;
  StartEmulator(eo);
  ClientOptions options = Options(400'000, std::chrono::minutes(1));
  options.transient_backoff = milliseconds(10);
  auto client = MakeClient(options);
  std::vector<RequestResult> results = RunAll(*client, Requests(30, 50, 100));
  int attempts = 0;
  for (const RequestResult& r : results) {
    ASSERT_TRUE(r) << r.error().error.ToString();
    attempts += r->attempts;
  }
  EXPECT_GT(attempts, 30) << "some requests met ModelNotReady and were retried";
  const ModelStats stats = client->Stats().models.at(0);
  EXPECT_EQ(stats.completed, 30);
  EXPECT_EQ(stats.throttles, 0) << "ModelNotReady is not a quota throttle";
  EXPECT_EQ(stats.limiter.server_throttles, 0);
  EXPECT_DOUBLE_EQ(stats.limiter.rate_factor, 1.0);
}

TEST_F(ClientTest, ATokensPerDayThrottlePausesTheModelWithAWarningInsteadOfFailing) {
  // A 100 ms period makes the emulator's day 144 s; its daily quota admits about eight requests
  // (~310 tokens settled each).
  const Duration period = milliseconds(100);
  emulator::EmulatorOptions eo =
      FastEmulator(1'000'000, period, emulator::CountingMode::kTokenBucket);
  eo.quotas.overrides.back().tokens_per_day = 2'500;
  StartEmulator(eo);
  ClientOptions options = Options(1'000'000, period);  // the client does not know the daily quota
  auto client = MakeClient(options);
  std::mutex mu;
  int finished = 0;
  std::vector<ModelRequest> requests = Requests(12, 50, 1'000);
  for (ModelRequest& r : requests) {
    client->Submit(std::move(r), {}, [&](const RequestResult&) {
      std::lock_guard lock(mu);
      ++finished;
    });
  }
  // Pauses last 60 periods (6 s here): the throttled requests wait, they do not fail.
  const SteadyTime until = SystemClock().Now() + seconds(2);
  while (SystemClock().Now() < until && warnings().empty()) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(warnings().size(), 1u);
  EXPECT_NE(warnings()[0].find("tokens-per-day quota"), std::string::npos) << warnings()[0];
  std::this_thread::sleep_for(milliseconds(500));
  {
    std::lock_guard lock(mu);
    EXPECT_LT(finished, 12) << "the throttled requests wait for the day to free";
  }
  const ModelStats stats = client->Stats().models.at(0);
  EXPECT_GE(stats.throttles, 1);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_DOUBLE_EQ(stats.limiter.rate_factor, 1.0) << "a daily throttle does not cut the rate";
  client->CancelQueued();
}

TEST_F(ClientTest, AStreamThatBreaksAfterItsAnswerIsChargedItsWholeReservation) {
  emulator::EmulatorOptions eo =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  eo.faults.stream_throttle = 1.0;
  StartEmulator(eo);
  auto client = MakeClient(Options(400'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.api = Api::kConverseStream;
  request.model_id = kModel;
  request.body = ConverseBody(50, 300);
  request.input_tokens = 100;
  RequestResult result = client->Call(request);
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().charged);
  const ModelStats stats = client->Stats().models.at(0);
  EXPECT_EQ(stats.limiter.settled_tokens, 100 + 300);
  EXPECT_EQ(stats.limiter.refunds, 0);
}

TEST_F(ClientTest, ConverseStreamSettlesOnItsMetadataEvent) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  auto client = MakeClient(Options(400'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.api = Api::kConverseStream;
  request.model_id = kModel;
  request.body = ConverseBody(50, 300);
  RequestResult result = client->Call(request);
  ASSERT_TRUE(result) << result.error().error.ToString();
  EXPECT_EQ(result->usage.output_tokens, 200);
  EXPECT_EQ(client->Stats().models.at(0).limiter.settled_tokens, result->settled_tokens);
}

TEST_F(ClientTest, ADeadlineThatCannotBeMetFailsNow) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  // 6,000 tokens per minute and an empty bucket: a 1,100-token request waits ~11 s.
  auto client = MakeClient(Options(6'000, std::chrono::minutes(1)));
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(10, 1'000);
  SubmitOptions o;
  o.deadline = SystemClock().Now() + seconds(2);
  const SteadyTime before = SystemClock().Now();
  RequestResult result = client->Call(request, o);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.code, ErrorCode::kDeadlineExceeded);
  EXPECT_LT(SystemClock().Now() - before, seconds(1)) << "failed at once, not at the deadline";
}

TEST_F(ClientTest, CancelQueuedStopsNewStartsAndLetsInFlightFinish) {
  emulator::EmulatorOptions server =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  // Answers take a second: no settlement can free quota for more starts before the cancel.
  server.latency.time_to_first_token = seconds(1);
  StartEmulator(std::move(server));
  ClientOptions options = Options(12'000, std::chrono::minutes(1));
  options.limiter.initial_fill = 1.0;  // ~10 start at once, the rest wait minutes
  auto client = MakeClient(options);
  std::vector<ModelRequest> requests = Requests(40, 50, 1'000);
  std::mutex mu;
  int ok = 0;
  int cancelled = 0;
  for (auto& r : requests) {
    client->Submit(r, {}, [&](RequestResult res) {
      std::lock_guard lock(mu);
      if (res) ++ok;
      if (!res && res.error().error.code == ErrorCode::kCancelled) ++cancelled;
    });
  }
  client->CancelQueued();
  ASSERT_TRUE(client->WaitIdle(seconds(30)));
  std::lock_guard lock(mu);
  EXPECT_EQ(ok + cancelled, 40);
  EXPECT_GT(cancelled, 20);
}

TEST_F(ClientTest, LimitsComeFromServiceQuotasWhenNotConfigured) {
  StartEmulator(
      FastEmulator(123'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  aws::EventLoop loop(SystemClock());
  loop.Start();
  auto http = std::make_unique<aws::HttpClient>(loop);
  bedrock::ServiceQuotasClientOptions sqo;
  sqo.endpoint = emulator_->endpoint();
  sqo.credentials = &credentials_;
  auto sq = bedrock::ServiceQuotasClient::Create(*http, sqo);
  ASSERT_TRUE(sq) << sq.error().message;
  ClientOptions options = Options(0, std::chrono::minutes(1));
  options.limits.clear();
  options.service_quotas = sq->get();
  options.quota_share = 0.5;
  auto client = MakeClient(options);
  auto limits = client->Limits(kModel);
  ASSERT_TRUE(limits) << limits.error().message;
  EXPECT_EQ(limits->source, "service-quotas");
  EXPECT_EQ(limits->tokens_per_minute, 123'000);
  EXPECT_NE(limits->note.find("tokens per minute"), std::string::npos) << limits->note;
  EXPECT_TRUE(warnings().empty());
  // Half the quota: the limiter enforces 61,500 per period, so a request of 62,000 can never
  // start although the account's quota would admit it.
  ModelRequest request;
  request.model_id = kModel;
  request.body = ConverseBody(10, 100);
  ASSERT_TRUE(client->Call(request));
  ModelRequest large = request;
  large.input_tokens = 60'000;
  large.max_tokens = 2'000;
  RequestResult refused = client->Call(large);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.code, ErrorCode::kImpossible) << refused.error().error.ToString();
  EXPECT_EQ(client->Stats().models.at(0).limits.tokens_per_minute, 123'000);
  client.reset();
  sq->reset();
  http.reset();
  loop.Stop();
}

TEST_F(ClientTest, AnApplicationProfileArnUsesTheModelAndQuotasOfWhatItCopies) {
  emulator::EmulatorOptions eo =
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket);
  eo.quotas.overrides.back().model = "us.amazon.nova-lite-v1:0";
  eo.quotas.overrides.back().tokens_per_minute = 150'000;
  emulator::ApplicationProfileOptions profile;
  profile.id = "contracts1";
  profile.copy_from = "us.amazon.nova-lite-v1:0";
  eo.application_profiles.push_back(profile);
  StartEmulator(eo);
  aws::EventLoop loop(SystemClock());
  loop.Start();
  auto http = std::make_unique<aws::HttpClient>(loop);
  bedrock::ControlPlaneOptions cpo;
  cpo.endpoint = emulator_->endpoint();
  cpo.credentials = &credentials_;
  auto sq = bedrock::ServiceQuotasClient::Create(*http, cpo);
  auto profiles = bedrock::InferenceProfilesClient::Create(*http, cpo);
  ASSERT_TRUE(sq && profiles);
  ClientOptions options = Options(0, std::chrono::minutes(1));
  options.limits.clear();
  options.service_quotas = sq->get();
  options.inference_profiles = profiles->get();
  auto client = MakeClient(options);
  const std::string arn =
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/contracts1";
  auto limits = client->Limits(arn);
  ASSERT_TRUE(limits) << limits.error().message;
  EXPECT_EQ(limits->source, "service-quotas");
  EXPECT_EQ(limits->tokens_per_minute, 150'000) << limits->note;
  ModelRequest request;
  request.model_id = arn;
  request.body = ConverseBody(10, 100);
  RequestResult result = client->Call(request);
  ASSERT_TRUE(result) << result.error().error.ToString();
  EXPECT_NE(emulator_->StateJson().find("us-east-1/us.amazon.nova-lite-v1:0"), std::string::npos)
      << "charged to the copied profile's quota";
  // An application profile that does not exist is an unknown model, said clearly.
  ModelRequest unknown = request;
  unknown.model_id = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/nope";
  RequestResult missing = client->Call(unknown);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error.code, ErrorCode::kNotFound);
  client.reset();
  profiles->reset();
  sq->reset();
  http.reset();
  loop.Stop();
}

TEST_F(ClientTest, WithoutConfigOrDiscoveryConservativeDefaultsApplyWithAWarning) {
  StartEmulator(
      FastEmulator(400'000, std::chrono::minutes(1), emulator::CountingMode::kTokenBucket));
  ClientOptions options = Options(0, std::chrono::minutes(1));
  options.limits.clear();
  auto client = MakeClient(options);
  auto limits = client->Limits(kModel);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->source, "default");
  EXPECT_EQ(limits->tokens_per_minute, options.default_limits.tokens_per_minute);
  ASSERT_EQ(warnings().size(), 1u);
  EXPECT_NE(warnings()[0].find("conservative default"), std::string::npos) << warnings()[0];
}

TEST_F(ClientTest, OptionsWithoutAuthOrOutOfRangeAreRefused) {
  ClientOptions options;
  options.endpoint = "http://127.0.0.1:1";
  EXPECT_EQ(Client::Create(options).error().code, ErrorCode::kInvalidArgument);
  options.bearer_token = "k";
  options.quota_share = 1.5;
  EXPECT_EQ(Client::Create(options).error().code, ErrorCode::kInvalidArgument);
  options.quota_share = 1;
  options.attempts = 0;
  EXPECT_EQ(Client::Create(options).error().code, ErrorCode::kInvalidArgument);
  options.attempts = 3;
  options.retry_max_backoff = options.retry_base_backoff / 2;
  EXPECT_EQ(Client::Create(options).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace quotaflow
