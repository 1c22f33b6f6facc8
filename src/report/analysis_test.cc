#include "report/analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "aws/test_process.h"
#include "report/sample_dir_test_util.h"

namespace quotaflow::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace json = boost::json;

// A model as the catalog describes one; only the numbers the analysis reads matter.
bedrock::ModelInfo Model(int64_t burndown, int64_t max_output) {
  bedrock::ModelInfo model;
  model.id = burndown == 5 ? "anthropic.claude-sonnet-4-20250514-v1:0" : "amazon.nova-pro-v1:0";
  model.name = burndown == 5 ? "Claude Sonnet 4" : "Nova Pro";
  model.output_burndown = burndown;
  model.max_output_tokens = max_output;
  model.default_output_tokens = max_output;
  return model;
}

// GCC 12 warns about designated initializers that leave members out, hence these builders.
Quotas Q(int64_t tpm, std::optional<int64_t> rpm = std::nullopt,
         std::optional<int64_t> tpd = std::nullopt,
         std::optional<int64_t> concurrency = std::nullopt) {
  Quotas q;
  q.tokens_per_minute = tpm;
  q.requests_per_minute = rpm;
  q.tokens_per_day = tpd;
  q.max_concurrency = concurrency;
  return q;
}

Workload W(int64_t input, std::optional<int64_t> max_tokens, int64_t output, double latency,
           int64_t cache_write = 0, int64_t cache_read = 0) {
  Workload w;
  w.input_tokens = input;
  w.max_tokens = max_tokens;
  w.expected_output_tokens = output;
  w.latency_seconds = latency;
  w.cache_write_tokens = cache_write;
  w.cache_read_tokens = cache_read;
  return w;
}

constexpr std::nullopt_t kUnset = std::nullopt;

// One hand-computed case: R = prompt + reserved output, S = input + cache write + output ×
// burndown, f = min(latency / 60, 1); the bounds in requests per minute.
struct Case {
  const char* name;
  Quotas quotas;
  int64_t burndown;
  int64_t model_max_output;
  Workload workload;
  // Expected.
  int64_t reservation;
  int64_t settlement;
  double at_reservation;
  double at_settlement;
  double steady;
  Limit binding;
  double rate;
  std::optional<Limit> runner_up;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class AnalysisCases : public ::testing::TestWithParam<Case> {};

TEST_P(AnalysisCases, MatchesTheHandComputation) {
  const Case& c = GetParam();
  Result<Analysis> a = Analyze(c.quotas, Model(c.burndown, c.model_max_output), c.workload);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->reservation_tokens, c.reservation);
  EXPECT_EQ(a->settlement_tokens, c.settlement);
  EXPECT_NEAR(*a->BoundFor(Limit::kTpmAtReservation).requests_per_minute, c.at_reservation, 1e-9);
  EXPECT_NEAR(*a->BoundFor(Limit::kTpmAtSettlement).requests_per_minute, c.at_settlement, 1e-9);
  EXPECT_NEAR(*a->BoundFor(Limit::kTpm).requests_per_minute, c.steady, 1e-9);
  EXPECT_EQ(a->binding, c.binding) << LimitName(a->binding);
  EXPECT_NEAR(a->requests_per_minute, c.rate, 1e-9);
  EXPECT_NEAR(a->tokens_per_minute, c.rate * static_cast<double>(c.settlement), 1e-6);
  EXPECT_EQ(a->runner_up, c.runner_up);
  ASSERT_EQ(a->bounds.size(), 6u);
  for (size_t i = 0; i < a->bounds.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(a->bounds[i].limit), i) << "bounds are in Limit order";
  }
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(
    HandComputed, AnalysisCases,
    ::testing::Values(
        // Burndown 5, 12 s: R = 3,000 + 8,000 = 11,000; S = 3,000 + 1,000 × 5 = 8,000; f = 0.2.
        // Steady: 400,000 / (8,000 + 0.2 × 3,000) = 400,000 / 8,600 = 46.5116...
        Case{"Burndown5", Q(400000), 5, 64000,
             W(3000, 8000, 1000, 12),
             11000, 8000, 400000.0 / 11000, 50, 400000.0 / 8600, Limit::kTpm, 400000.0 / 8600,
             std::nullopt},
        // The same with an RPM quota of 50 above the TPM bound: TPM binds, RPM is next.
        Case{"Burndown5UnderRpm", Q(400000, 50), 5,
             64000,
             W(3000, 8000, 1000, 12),
             11000, 8000, 400000.0 / 11000, 50, 400000.0 / 8600, Limit::kTpm, 400000.0 / 8600,
             Limit::kRpm},
        // Cache writes count at settlement, cache reads only in the reservation (whole prompt):
        // P = 2,000 + 1,000 + 5,000 = 8,000; R = 10,000; S = 2,000 + 1,000 + 500 = 3,500;
        // f = 0.5: steady 200,000 / (3,500 + 0.5 × 6,500) = 200,000 / 6,750 = 29.63.
        Case{"CacheWritesAndReads", Q(200000), 1, 10000,
             W(2000, 2000, 500, 30, 1000, 5000),
             10000, 3500, 20, 200000.0 / 3500, 200000.0 / 6750, Limit::kTpm, 200000.0 / 6750,
             std::nullopt},
        // Little's law: 10 in flight × 60 / 30 s = 20/min, below TPM's 29.63.
        Case{"ConcurrencyBinds", Q(200000, kUnset, kUnset, 10), 1, 10000,
             W(2000, 2000, 500, 30, 1000, 5000),
             10000, 3500, 20, 200000.0 / 3500, 200000.0 / 6750, Limit::kConcurrency, 20,
             Limit::kTpm},
        // max_tokens absent: the model default 64,000 is reserved. R = 66,000; S = 2,000 +
        // 1,000 × 5 = 7,000; f = 1/3: 200,000 / (7,000 + 59,000 / 3) = 7.5.
        Case{"MaxTokensAbsent", Q(200000), 5, 64000,
             W(2000, kUnset, 1000, 20),
             66000, 7000, 200000.0 / 66000, 200000.0 / 7000, 7.5, Limit::kTpm, 7.5,
             std::nullopt},
        // A reservation above the quota is never admitted: R = 66,000 > 50,000.
        Case{"ReservationAboveQuota", Q(50000), 5, 64000,
             W(2000, kUnset, 500, 10),
             66000, 4500, 0, 50000.0 / 4500, 0, Limit::kTpm, 0, std::nullopt},
        // TPD spread over the day: 1,440,000 / 1,440 / 1,000 = 1/min; TPM allows 1,000.
        Case{"TpdBinds", Q(1000000, kUnset, 1440000), 1, 4096,
             W(900, 100, 100, 3),
             1000, 1000, 1000, 1000, 1000, Limit::kTpd, 1, Limit::kTpm},
        // A minute or more in flight: every request holds R all minute, steady = TPM / R.
        Case{"LongRequestsHoldTheirReservation", Q(100000), 1, 8192,
             W(1000, 4000, 1000, 90),
             5000, 2000, 20, 50, 20, Limit::kTpm, 20, std::nullopt},
        // Output × burndown above max_tokens: S = 1,000 + 5,000 = 6,000 > R = 2,000; holding
        // never makes a request cheaper than S: 600,000 / 6,000 = 100.
        Case{"SettlementAboveReservation", Q(600000), 5, 64000,
             W(1000, 1000, 1000, 6),
             2000, 6000, 300, 100, 100, Limit::kTpm, 100, std::nullopt},
        // No latency: reservations count as released at once, concurrency cannot apply.
        Case{"NoLatency", Q(100000, kUnset, kUnset, 4), 1, 8192,
             W(1000, 4000, 1000, 0),
             5000, 2000, 20, 50, 50, Limit::kTpm, 50, std::nullopt},
        // Small requests under an old RPM quota: 10/min against TPM's 1,000,000 / 1,100 = 909.
        Case{"RpmBinds", Q(1000000, 10), 1, 8192,
             W(1000, 100, 100, 2),
             1100, 1100, 1000000.0 / 1100, 1000000.0 / 1100, 1000000.0 / 1100, Limit::kRpm, 10,
             Limit::kTpm}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });
// clang-format on

const Relief* FindRelief(const Analysis& a, Relief::Kind kind) {
  for (const Relief& r : a.reliefs) {
    if (r.kind == kind) return &r;
  }
  return nullptr;
}

Workload SonnetWorkload() { return W(3000, 8000, 1000, 12); }

TEST(AnalysisReliefs, LowerMaxTokensUntilTheNextQuotaBinds) {
  // TPM binds at 46.5/min, RPM 50 is next. TPM reaches 50/min at a cost of 400,000 / 50 = 8,000
  // = S, i.e. R = S: max_tokens = 8,000 - 3,000 = 5,000.
  Result<Analysis> a = Analyze(Q(400000, 50), Model(5, 64000), SonnetWorkload());
  ASSERT_TRUE(a) << a.error().message;
  const Relief* lower = FindRelief(*a, Relief::Kind::kLowerMaxTokens);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->value, 5000);
  EXPECT_NEAR(lower->requests_per_minute, 50, 1e-9);
  EXPECT_THAT(lower->text, HasSubstr("lower max_tokens from 8,000 to 5,000"));
  EXPECT_THAT(lower->text, HasSubstr("RPM binds then"));

  // TPM for 50/min at the current max_tokens: 50 × 8,600 = 430,000.
  const Relief* raise = FindRelief(*a, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->limit, Limit::kTpm);
  EXPECT_EQ(raise->value, 430000);
  EXPECT_NEAR(raise->requests_per_minute, 50, 1e-9);
  EXPECT_THAT(raise->text, HasSubstr("ask for TPM 430,000 (now 400,000)"));

  // Another region doubles RPM and TPM: min(100, 93.02).
  const Relief* region = FindRelief(*a, Relief::Kind::kAddCapacity);
  ASSERT_NE(region, nullptr);
  EXPECT_NEAR(region->requests_per_minute, 800000.0 / 8600, 1e-9);
  EXPECT_THAT(region->text, HasSubstr("cross-region inference profile"));
}

TEST(AnalysisReliefs, TheNextQuotaBetweenTheTwoTpmEndsSetsMaxTokens) {
  // RPM 48: TPM reaches 48/min at a cost of 400,000 / 48 = 8,333.3 = 8,000 + 0.2 × (R - 8,000),
  // so R = 9,666.7 and max_tokens = floor(6,666.7) = 6,666.
  Result<Analysis> a = Analyze(Q(400000, 48), Model(5, 64000), SonnetWorkload());
  ASSERT_TRUE(a) << a.error().message;
  const Relief* lower = FindRelief(*a, Relief::Kind::kLowerMaxTokens);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->value, 6666);
  EXPECT_NEAR(lower->requests_per_minute, 48, 1e-9);  // RPM binds then
  EXPECT_NEAR(TpmBoundWithReservedOutput(*a, 6666), 400000.0 / (8000 + 0.2 * 1666), 1e-9);
  EXPECT_GT(TpmBoundWithReservedOutput(*a, 6666), 48);
  EXPECT_LT(TpmBoundWithReservedOutput(*a, 6667), 48);
}

TEST(AnalysisReliefs, WithoutAnotherQuotaMaxTokensGoesDownToTheSettlement) {
  Result<Analysis> a = Analyze(Q(200000), Model(5, 64000), W(2000, kUnset, 1000, 20));
  ASSERT_TRUE(a) << a.error().message;
  // R = S = 7,000: max_tokens 5,000, and TPM then allows 200,000 / 7,000 = 28.57.
  const Relief* lower = FindRelief(*a, Relief::Kind::kLowerMaxTokens);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->value, 5000);
  EXPECT_NEAR(lower->requests_per_minute, 200000.0 / 7000, 1e-9);
  EXPECT_THAT(lower->text, HasSubstr("set max_tokens to 5,000 (unset, the model's 64,000"));
  // Nothing else binds: doubling the TPM doubles the rate.
  const Relief* raise = FindRelief(*a, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->value, 400000);
  EXPECT_NEAR(raise->requests_per_minute, 15, 1e-9);
  EXPECT_THAT(a->notes, testing::Contains(HasSubstr("default of 64,000 output tokens")));
}

TEST(AnalysisReliefs, MaxTokensNeverGoesBelowTheExpectedOutput) {
  // Burndown 1 with cache reads: R = S would need max_tokens = 3,500 - 8,000 < 0. The expected
  // output (500) is the floor: R = 8,500, 200,000 / (3,500 + 0.5 × 5,000) = 33.33.
  Result<Analysis> a = Analyze(Q(200000), Model(1, 10000), W(2000, 2000, 500, 30, 1000, 5000));
  ASSERT_TRUE(a) << a.error().message;
  const Relief* lower = FindRelief(*a, Relief::Kind::kLowerMaxTokens);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->value, 500);
  EXPECT_NEAR(lower->requests_per_minute, 200000.0 / 6000, 1e-9);
  EXPECT_THAT(lower->text, HasSubstr("no lower: responses use about 500 tokens"));
}

TEST(AnalysisReliefs, AReservationAboveTheQuotaIsFixedByMaxTokensOrTpm) {
  Result<Analysis> a = Analyze(Q(50000), Model(5, 64000), W(2000, kUnset, 500, 10));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->requests_per_minute, 0);
  EXPECT_THAT(a->BoundFor(Limit::kTpm).formula, HasSubstr("never admitted"));
  EXPECT_THAT(a->notes, testing::Contains(HasSubstr("throttles every such request")));
  // R = S = 4,500: max_tokens 2,500 and 50,000 / 4,500 = 11.1/min.
  const Relief* lower = FindRelief(*a, Relief::Kind::kLowerMaxTokens);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->value, 2500);
  EXPECT_NEAR(lower->requests_per_minute, 50000.0 / 4500, 1e-9);
  // A TPM that admits the 66,000-token reservation at all, at least double: 100,000, and
  // 100,000 / (4,500 + 61,500 / 6) = 6.78.
  const Relief* raise = FindRelief(*a, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->value, 100000);
  EXPECT_NEAR(raise->requests_per_minute, 100000.0 / (4500 + 61500.0 / 6), 1e-9);
}

TEST(AnalysisReliefs, NoMaxTokensReliefWhenTheReservationIsNotHeld) {
  // Settlement above reservation, and no latency: max_tokens changes nothing.
  for (const Workload& w : {W(1000, 1000, 1000, 6), W(1000, 4000, 1000, 0)}) {
    Result<Analysis> a = Analyze(Q(600000), Model(5, 64000), w);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(FindRelief(*a, Relief::Kind::kLowerMaxTokens), nullptr);
    EXPECT_NE(FindRelief(*a, Relief::Kind::kRaiseQuota), nullptr);
  }
}

TEST(AnalysisReliefs, OtherBindingQuotasAreRaisedToTheNextBound) {
  // TPD: 1/min binds, TPM allows 1,000: TPD 1,000 × 1,000 × 1,440 = 1,440,000,000.
  Result<Analysis> tpd = Analyze(Q(1000000, kUnset, 1440000), Model(1, 4096), W(900, 100, 100, 3));
  ASSERT_TRUE(tpd) << tpd.error().message;
  const Relief* raise = FindRelief(*tpd, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->limit, Limit::kTpd);
  EXPECT_EQ(raise->value, 1440000000);
  EXPECT_NEAR(raise->requests_per_minute, 1000, 1e-9);
  EXPECT_EQ(FindRelief(*tpd, Relief::Kind::kLowerMaxTokens), nullptr);
  const Relief* region = FindRelief(*tpd, Relief::Kind::kAddCapacity);
  ASSERT_NE(region, nullptr);
  EXPECT_NEAR(region->requests_per_minute, 2, 1e-9);

  // RPM 10 binds, TPM allows 909.09: ask for RPM 910.
  Result<Analysis> rpm = Analyze(Q(1000000, 10), Model(1, 8192), W(1000, 100, 100, 2));
  ASSERT_TRUE(rpm) << rpm.error().message;
  raise = FindRelief(*rpm, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->limit, Limit::kRpm);
  EXPECT_EQ(raise->value, 910);
  EXPECT_NEAR(raise->requests_per_minute, 1000000.0 / 1100, 1e-9);

  // Concurrency 10 at 30 s binds (20/min), TPM allows 29.63: 29.63 × 30 / 60 -> 15 in flight.
  // Another region does not help a client-side cap.
  Result<Analysis> conc =
      Analyze(Q(200000, kUnset, kUnset, 10), Model(1, 10000), W(2000, 2000, 500, 30, 1000, 5000));
  ASSERT_TRUE(conc) << conc.error().message;
  raise = FindRelief(*conc, Relief::Kind::kRaiseQuota);
  ASSERT_NE(raise, nullptr);
  EXPECT_EQ(raise->limit, Limit::kConcurrency);
  EXPECT_EQ(raise->value, 15);
  EXPECT_NEAR(raise->requests_per_minute, 200000.0 / 6750, 1e-9);
  EXPECT_EQ(FindRelief(*conc, Relief::Kind::kAddCapacity), nullptr);
}

TEST(Analyze, RejectsInputsThatMeanNothing) {
  const bedrock::ModelInfo sonnet = Model(5, 64000);
  auto code = [&](const Quotas& q, const Workload& w) {
    Result<Analysis> a = Analyze(q, sonnet, w);
    return a ? ErrorCode::kOk : a.error().code;
  };
  const Workload ok = SonnetWorkload();
  EXPECT_EQ(code(Q(400000), ok), ErrorCode::kOk);
  EXPECT_EQ(code({}, ok), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(Q(-1), ok), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(Q(400000, 0), ok), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(Q(400000, kUnset, -5), ok), ErrorCode::kInvalidArgument);

  Workload w = ok;
  w.input_tokens = -1;
  EXPECT_EQ(code(Q(400000), w), ErrorCode::kInvalidArgument);
  w = ok;
  w.latency_seconds = -1;
  EXPECT_EQ(code(Q(400000), w), ErrorCode::kInvalidArgument);
  w = ok;
  w.max_tokens = 0;
  EXPECT_EQ(code(Q(400000), w), ErrorCode::kInvalidArgument);
  w = ok;
  w.max_tokens = 100000;  // above the model's 64,000
  EXPECT_EQ(code(Q(400000), w), ErrorCode::kInvalidArgument);
  w = ok;
  w.expected_output_tokens = 9000;  // above max_tokens 8,000
  Result<Analysis> above = Analyze(Q(400000), sonnet, w);
  ASSERT_FALSE(above);
  EXPECT_THAT(above.error().message, HasSubstr("above the max_tokens of 8,000"));
  w = W(0, 10, 0, 0, 0, 100);
  EXPECT_EQ(code(Q(400000), w), ErrorCode::kInvalidArgument);

  bedrock::ModelInfo no_default = sonnet;
  no_default.default_output_tokens = 0;
  w = ok;
  w.max_tokens.reset();
  EXPECT_FALSE(Analyze(Q(400000), no_default, w));
}

TEST(AnalysisOutput, JsonCarriesEveryBoundAndNullsForAbsentQuotas) {
  Result<Analysis> a = Analyze(Q(400000, 50), Model(5, 64000), SonnetWorkload());
  ASSERT_TRUE(a) << a.error().message;
  // Through text, as `--output json` prints it.
  const json::value v = json::parse(json::serialize(AnalysisToJson(*a)));
  EXPECT_EQ(v.at("binding").at("limit"), "tpm");
  EXPECT_EQ(v.at("binding").at("runner_up"), "rpm");
  EXPECT_NEAR(v.at("binding").at("requests_per_minute").as_double(), 400000.0 / 8600, 1e-9);
  EXPECT_EQ(v.at("quotas").at("tpd"), nullptr);
  EXPECT_EQ(v.at("quotas").at("rpm"), 50);
  EXPECT_EQ(v.at("per_request").at("reservation_tokens"), 11000);
  EXPECT_EQ(v.at("per_request").at("settlement_tokens"), 8000);
  EXPECT_EQ(v.at("model").at("burndown"), 5);
  const json::array& bounds = v.at("bounds").as_array();
  ASSERT_EQ(bounds.size(), 6u);
  EXPECT_EQ(bounds[5].at("limit"), "tpd");
  EXPECT_EQ(bounds[5].at("requests_per_minute"), nullptr);
  EXPECT_EQ(bounds[3].at("binding"), true);
  EXPECT_EQ(bounds[1].at("competes"), false);
  const json::array& reliefs = v.at("reliefs").as_array();
  ASSERT_GE(reliefs.size(), 3u);
  EXPECT_EQ(reliefs[0].at("kind"), "lower_max_tokens");
  EXPECT_EQ(reliefs[0].at("value"), 5000);
  EXPECT_EQ(reliefs[2].at("value"), nullptr);
}

TEST(AnalysisOutput, TableNamesTheBindingQuotaAndItsRelief) {
  Result<Analysis> a = Analyze(Q(400000, 50), Model(5, 64000), SonnetWorkload());
  ASSERT_TRUE(a) << a.error().message;
  const std::string table = RenderAnalysisTable(*a);
  EXPECT_THAT(table, HasSubstr("reserves     11,000 tokens = prompt 3,000 + max_tokens 8,000"));
  EXPECT_THAT(
      table,
      HasSubstr("settles      8,000 tokens = input 3,000 + cache write 0 + output 1,000 × 5"));
  EXPECT_THAT(table, HasSubstr("400,000 / (8,000 + 0.20 × 3,000)"));
  EXPECT_THAT(table, HasSubstr("46.5 *"));
  EXPECT_THAT(table, HasSubstr("binding: TPM, steady state (*): at most 46.5 requests/min"));
  EXPECT_THAT(table, HasSubstr("next: RPM at 50.0"));
  EXPECT_THAT(table, HasSubstr("  - lower max_tokens from 8,000 to 5,000"));
  EXPECT_THAT(table, Not(HasSubstr("cache read")));
  std::cout << table;
}

TEST(AnalysisChart, CurveMeetsTheBoundsAtTheCurrentAndSuggestedMaxTokens) {
  Result<Analysis> a = Analyze(Q(400000, 48), Model(5, 64000), SonnetWorkload());
  ASSERT_TRUE(a) << a.error().message;
  const Chart chart = MaxTokensChart(*a);
  ASSERT_EQ(chart.lines.size(), 1u);
  const std::vector<Point>& curve = chart.lines[0].points;
  EXPECT_DOUBLE_EQ(curve.front().x, 1000);  // from the expected output
  EXPECT_GE(curve.back().x, 8000);          // past the current max_tokens
  for (const Point& p : curve) {
    EXPECT_NEAR(p.y, TpmBoundWithReservedOutput(*a, static_cast<int64_t>(p.x)), 1e-9);
  }
  ASSERT_EQ(chart.markers.size(), 2u);
  EXPECT_DOUBLE_EQ(chart.markers[0].x, 8000);
  EXPECT_DOUBLE_EQ(chart.markers[1].x, 6666);
  ASSERT_EQ(chart.references.size(), 2u);  // TPM at settlement, RPM
  EXPECT_DOUBLE_EQ(chart.references[0].y, 50);
  EXPECT_DOUBLE_EQ(chart.references[1].y, 48);
  EXPECT_THAT(chart.references[1].label, HasSubstr("RPM 48"));

  Result<ChartLayout> layout = LayoutChart(chart, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_GE(layout->y.max, 50);
  EXPECT_DOUBLE_EQ(layout->y.min, 0);

  // Drawn for looking at when QUOTAFLOW_CHART_SAMPLES names a directory.
  testing_util::TempDir temp("quotaflow-analysis");
  ASSERT_TRUE(temp.ok());
  const std::filesystem::path dir = SampleDir(temp.path());
  EXPECT_TRUE(Render(chart, dir / "analyze-max-tokens.png"));
  EXPECT_TRUE(Render(chart, dir / "analyze-max-tokens.svg"));

  Result<Analysis> unset =
      Analyze(Q(200000, kUnset, 100000000), Model(5, 64000), W(2000, kUnset, 1000, 20));
  ASSERT_TRUE(unset) << unset.error().message;
  EXPECT_TRUE(Render(MaxTokensChart(*unset), dir / "analyze-max-tokens-unset.png"));
}

}  // namespace
}  // namespace quotaflow::report
