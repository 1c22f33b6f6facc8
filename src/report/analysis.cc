#include "report/analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <utility>

#include "quotaflow/accounting.h"

namespace quotaflow::report {
namespace {

namespace json = boost::json;

// Far above any real quota or prompt, and far enough below 2^63 that sums and products of a few
// of them stay exact in int64 and in double.
constexpr int64_t kMaxCount = int64_t{1} << 40;
constexpr double kMinutesPerDay = 1440;

// The competing bounds (requests per minute) for one set of numbers; nullopt where none applies.
struct Competing {
  std::optional<double> rpm;
  double tpm = 0;
  std::optional<double> concurrency;
  std::optional<double> tpd;
};

// The TPM "cost" of one request per minute at steady state (see analysis.h).
double SteadyTpmCost(int64_t reservation, int64_t settlement, double in_flight_fraction) {
  return static_cast<double>(settlement) +
         in_flight_fraction * static_cast<double>(std::max<int64_t>(reservation - settlement, 0));
}

double TpmBound(int64_t tpm, int64_t reservation, int64_t settlement, double in_flight_fraction) {
  if (reservation > tpm) return 0;  // throttled at admission, every time
  return static_cast<double>(tpm) / SteadyTpmCost(reservation, settlement, in_flight_fraction);
}

// `pools` regions or inference profiles, each with the same quotas of its own. Concurrency is a
// client-side cap, shared by all of them.
Competing ComputeCompeting(const Quotas& q, int64_t reservation, int64_t settlement,
                           double in_flight_fraction, double latency_seconds, double pools = 1) {
  Competing c;
  if (q.requests_per_minute) c.rpm = pools * static_cast<double>(*q.requests_per_minute);
  c.tpm = pools * TpmBound(q.tokens_per_minute, reservation, settlement, in_flight_fraction);
  if (q.max_concurrency && latency_seconds > 0) {
    c.concurrency = static_cast<double>(*q.max_concurrency) * 60 / latency_seconds;
  }
  if (q.tokens_per_day) {
    c.tpd = pools * static_cast<double>(*q.tokens_per_day) / kMinutesPerDay /
            static_cast<double>(settlement);
  }
  return c;
}

// (limit, rate) of the competing bounds that apply, in tie-breaking order.
std::vector<std::pair<Limit, double>> Applying(const Competing& c) {
  std::vector<std::pair<Limit, double>> out;
  if (c.rpm) out.emplace_back(Limit::kRpm, *c.rpm);
  out.emplace_back(Limit::kTpm, c.tpm);
  if (c.concurrency) out.emplace_back(Limit::kConcurrency, *c.concurrency);
  if (c.tpd) out.emplace_back(Limit::kTpd, *c.tpd);
  return out;
}

// The smallest applying bound; on a tie the earlier in Limit order.
std::pair<Limit, double> Smallest(const Competing& c) {
  std::pair<Limit, double> best{Limit::kTpm, std::numeric_limits<double>::infinity()};
  for (const auto& [limit, rate] : Applying(c)) {
    if (rate < best.second) best = {limit, rate};
  }
  return best;
}

std::string Rate(double requests_per_minute) {
  if (requests_per_minute >= 100) {
    return FormatThousands(static_cast<int64_t>(std::llround(requests_per_minute)));
  }
  return fmt::format("{:.{}f}", requests_per_minute, requests_per_minute >= 10 ? 1 : 2);
}

std::string N(int64_t v) { return FormatThousands(v); }

int64_t RoundUpTo(double v, int64_t multiple) {
  const auto m = static_cast<double>(multiple);
  return static_cast<int64_t>(std::ceil(v / m - 1e-9) * m);
}

std::string Seconds(double s) { return fmt::format("{:g} s", s); }

Status Validate(const Quotas& q, const bedrock::ModelInfo& model, const Workload& w) {
  auto bad = [](std::string message) {
    return tl::unexpected(Error::InvalidArgument(std::move(message)));
  };
  if (q.tokens_per_minute <= 0 || q.tokens_per_minute > kMaxCount) {
    return bad(fmt::format("the TPM quota must be positive, not {}", q.tokens_per_minute));
  }
  const std::array<std::pair<const char*, std::optional<int64_t>>, 3> optional_quotas = {
      {{"RPM", q.requests_per_minute},
       {"TPD", q.tokens_per_day},
       {"concurrency", q.max_concurrency}}};
  for (const auto& [name, value] : optional_quotas) {
    if (value && (*value <= 0 || *value > kMaxCount)) {
      return bad(fmt::format("the {} quota must be positive, not {}", name, *value));
    }
  }
  const std::array<std::pair<const char*, int64_t>, 4> counts = {
      {{"input tokens", w.input_tokens},
       {"cache write tokens", w.cache_write_tokens},
       {"cache read tokens", w.cache_read_tokens},
       {"expected output tokens", w.expected_output_tokens}}};
  for (const auto& [name, value] : counts) {
    if (value < 0 || value > kMaxCount) return bad(fmt::format("{} out of range: {}", name, value));
  }
  if (!std::isfinite(w.latency_seconds) || w.latency_seconds < 0 || w.latency_seconds > 86400) {
    return bad(fmt::format("latency out of range: {} s", w.latency_seconds));
  }
  if (model.output_burndown < 1 || model.output_burndown > 1000) {
    return bad(fmt::format("{}: output burndown {} is not a positive multiplier", model.id,
                           model.output_burndown));
  }
  if (w.max_tokens) {
    if (*w.max_tokens < 1 || *w.max_tokens > kMaxCount) {
      return bad(fmt::format("max_tokens must be at least 1, not {}", *w.max_tokens));
    }
    if (model.max_output_tokens > 0 && *w.max_tokens > model.max_output_tokens) {
      return bad(fmt::format(
          "max_tokens {} is above the maximum output of {} ({}): Bedrock rejects such requests",
          N(*w.max_tokens), model.id, N(model.max_output_tokens)));
    }
  } else if (model.default_output_tokens <= 0 || model.default_output_tokens > kMaxCount) {
    return bad(fmt::format("no max_tokens given and {} has no default output to reserve",
                           model.id.empty() ? "the model" : model.id));
  }
  const int64_t reserved_output = bedrock::ReservedOutputTokens(model, w.max_tokens);
  if (w.expected_output_tokens > reserved_output) {
    return bad(fmt::format("expected output {} is above the {} of {}: a response stops there",
                           N(w.expected_output_tokens),
                           w.max_tokens ? "max_tokens" : "model's default output",
                           N(reserved_output)));
  }
  if (w.input_tokens + w.cache_write_tokens + w.expected_output_tokens == 0) {
    return bad("input, cache write and expected output are all 0: the requests cost nothing");
  }
  return {};
}

Bound MakeBound(Limit limit, std::optional<int64_t> quota, std::optional<double> rate,
                bool competes, std::string formula) {
  return Bound{limit, quota, rate, competes, std::move(formula)};
}

void AddReliefs(Analysis& a) {
  const Quotas& q = a.quotas;
  const Workload& w = a.workload;
  const double f = a.in_flight_fraction;
  const int64_t tpm = q.tokens_per_minute;
  const double cost = SteadyTpmCost(a.reservation_tokens, a.settlement_tokens, f);
  // A plain double, not an optional: GCC 12 -O3 sees a maybe-uninitialized optional<double> here.
  const bool has_next = a.runner_up.has_value();
  const double next = has_next ? a.BoundFor(*a.runner_up).requests_per_minute.value_or(0.0) : 0.0;
  // What the workload sustains after a change, and which limit binds then.
  auto after = [&](const Quotas& quotas, int64_t reserved_output, double pools) {
    return Smallest(ComputeCompeting(quotas, a.prompt_tokens + reserved_output, a.settlement_tokens,
                                     f, w.latency_seconds, pools));
  };
  auto then = [](const std::pair<Limit, double>& result) {
    return fmt::format("{} requests/min ({} binds then)", Rate(result.second),
                       result.first == Limit::kTpm ? "TPM" : LimitTitle(result.first));
  };

  if (a.binding == Limit::kTpm) {
    // max_tokens only matters through the reservation: while it is held (f > 0) or when it does
    // not fit in the quota at all.
    const bool reservation_bites =
        (f > 0 && a.reservation_tokens > a.settlement_tokens) || a.reservation_tokens > tpm;
    if (reservation_bites) {
      // The reservation at which the TPM bound reaches the next bound (or, with none, where it
      // stops mattering: R = S), never above what fits in a minute of quota.
      const double target_cost = has_next ? static_cast<double>(tpm) / next : 0;
      double max_reservation =
          f > 0 ? static_cast<double>(a.settlement_tokens) +
                      std::max(target_cost - static_cast<double>(a.settlement_tokens), 0.0) / f
                : static_cast<double>(tpm);
      max_reservation = std::min(max_reservation, static_cast<double>(tpm));
      const auto best = static_cast<int64_t>(
          std::floor(max_reservation - static_cast<double>(a.prompt_tokens) + 1e-9));
      // Lower than the expected output would cut responses short.
      const int64_t floor_output = std::max<int64_t>(w.expected_output_tokens, 1);
      const int64_t suggested = std::max(best, floor_output);
      if (suggested < a.reserved_output_tokens && a.prompt_tokens + suggested <= tpm) {
        const std::pair<Limit, double> result = after(q, suggested, 1);
        std::string text =
            a.max_tokens_defaulted
                ? fmt::format("set max_tokens to {} (unset, the model's {} are reserved)",
                              N(suggested), N(a.reserved_output_tokens))
                : fmt::format("lower max_tokens from {} to {}", N(a.reserved_output_tokens),
                              N(suggested));
        text += ": " + then(result);
        if (suggested == floor_output && best < floor_output) {
          text += fmt::format(" (no lower: responses use about {} tokens)",
                              N(w.expected_output_tokens));
        }
        a.reliefs.push_back(Relief{Relief::Kind::kLowerMaxTokens, Limit::kTpm, suggested,
                                   result.second, std::move(text)});
      }
    }
    // The TPM at which another quota takes over; asked for in whole thousands, as people do.
    Quotas raised = q;
    if (has_next) {
      raised.tokens_per_minute =
          RoundUpTo(std::max(next * cost, static_cast<double>(a.reservation_tokens)), 1000);
    } else {
      raised.tokens_per_minute =
          std::max<int64_t>(2 * tpm, RoundUpTo(static_cast<double>(a.reservation_tokens), 1000));
    }
    const std::pair<Limit, double> result = after(raised, a.reserved_output_tokens, 1);
    std::string text = fmt::format("ask for TPM {} (now {}): {}", N(raised.tokens_per_minute),
                                   N(tpm), then(result));
    a.reliefs.push_back(Relief{Relief::Kind::kRaiseQuota, Limit::kTpm, raised.tokens_per_minute,
                               result.second, std::move(text)});
  } else {
    Quotas raised = q;
    int64_t value = 0;
    std::string what;
    switch (a.binding) {
      case Limit::kRpm:
        value =
            has_next ? static_cast<int64_t>(std::ceil(next - 1e-9)) : 2 * *q.requests_per_minute;
        raised.requests_per_minute = value;
        what = fmt::format("ask for RPM {} (now {})", N(value), N(*q.requests_per_minute));
        break;
      case Limit::kTpd:
        value =
            has_next
                ? RoundUpTo(next * static_cast<double>(a.settlement_tokens) * kMinutesPerDay, 1000)
                : 2 * *q.tokens_per_day;
        raised.tokens_per_day = value;
        what = fmt::format("ask for TPD {} (now {}; TPD quotas are often not adjustable)", N(value),
                           N(*q.tokens_per_day));
        break;
      case Limit::kConcurrency:
        value = has_next ? static_cast<int64_t>(std::ceil(next * w.latency_seconds / 60 - 1e-9))
                         : 2 * *q.max_concurrency;
        raised.max_concurrency = value;
        what = fmt::format("allow {} requests in flight (now {})", N(value), N(*q.max_concurrency));
        break;
      default:
        break;
    }
    const std::pair<Limit, double> result = after(raised, a.reserved_output_tokens, 1);
    a.reliefs.push_back(Relief{Relief::Kind::kRaiseQuota, a.binding, value, result.second,
                               what + ": " + then(result)});
  }

  // Quotas are per account × region × model and per inference profile: another one adds a
  // whole set. A client-side concurrency cap does not grow with it.
  if (a.binding != Limit::kConcurrency) {
    const std::pair<Limit, double> result = after(q, a.reserved_output_tokens, 2);
    a.reliefs.push_back(Relief{
        Relief::Kind::kAddCapacity, a.binding, std::nullopt, result.second,
        fmt::format("add a region or a cross-region inference profile (each has quotas of its "
                    "own; one more doubles them): {}",
                    then(result))});
  }
}

json::value OptionalInt(std::optional<int64_t> v) {
  return v ? json::value(*v) : json::value(nullptr);
}

}  // namespace

std::string_view LimitName(Limit limit) {
  switch (limit) {
    case Limit::kRpm:
      return "rpm";
    case Limit::kTpmAtReservation:
      return "tpm_reservation";
    case Limit::kTpmAtSettlement:
      return "tpm_settlement";
    case Limit::kTpm:
      return "tpm";
    case Limit::kConcurrency:
      return "concurrency";
    case Limit::kTpd:
      return "tpd";
  }
  return "unknown";
}

std::string_view LimitTitle(Limit limit) {
  switch (limit) {
    case Limit::kRpm:
      return "RPM";
    case Limit::kTpmAtReservation:
      return "TPM at reservation";
    case Limit::kTpmAtSettlement:
      return "TPM at settlement";
    case Limit::kTpm:
      return "TPM, steady state";
    case Limit::kConcurrency:
      return "concurrency";
    case Limit::kTpd:
      return "TPD";
  }
  return "unknown";
}

std::string_view ReliefKindName(Relief::Kind kind) {
  switch (kind) {
    case Relief::Kind::kLowerMaxTokens:
      return "lower_max_tokens";
    case Relief::Kind::kRaiseQuota:
      return "raise_quota";
    case Relief::Kind::kAddCapacity:
      return "add_capacity";
  }
  return "unknown";
}

Result<Analysis> Analyze(const Quotas& quotas, const bedrock::ModelInfo& model,
                         const Workload& workload) {
  if (Status valid = Validate(quotas, model, workload); !valid) {
    return tl::unexpected(valid.error());
  }
  Analysis a;
  a.model_id = model.id;
  a.model_name = model.name;
  a.burndown = model.output_burndown;
  a.model_max_output_tokens = model.max_output_tokens;
  a.quotas = quotas;
  a.workload = workload;

  const Workload& w = workload;
  a.prompt_tokens = w.input_tokens + w.cache_write_tokens + w.cache_read_tokens;
  a.reserved_output_tokens = bedrock::ReservedOutputTokens(model, w.max_tokens);
  a.max_tokens_defaulted = !w.max_tokens.has_value();
  a.reservation_tokens =
      ReservationCost(a.prompt_tokens, w.max_tokens, model.default_output_tokens).tokens;
  a.settlement_tokens = SettledTokens(Usage{.input_tokens = w.input_tokens,
                                            .output_tokens = w.expected_output_tokens,
                                            .cache_read_tokens = w.cache_read_tokens,
                                            .cache_write_tokens = w.cache_write_tokens},
                                      model.output_burndown);
  a.in_flight_fraction = std::min(w.latency_seconds / 60, 1.0);
  const double f = a.in_flight_fraction;
  const int64_t tpm = quotas.tokens_per_minute;
  const int64_t r = a.reservation_tokens;
  const int64_t s = a.settlement_tokens;

  const Competing c = ComputeCompeting(quotas, r, s, f, w.latency_seconds);
  a.bounds.push_back(MakeBound(Limit::kRpm, quotas.requests_per_minute, c.rpm, true,
                               c.rpm ? "one per request" : "no RPM quota"));
  a.bounds.push_back(MakeBound(Limit::kTpmAtReservation, tpm,
                               r > tpm ? 0 : static_cast<double>(tpm) / static_cast<double>(r),
                               false, fmt::format("{} / {}", N(tpm), N(r))));
  a.bounds.push_back(MakeBound(Limit::kTpmAtSettlement, tpm,
                               static_cast<double>(tpm) / static_cast<double>(s), false,
                               fmt::format("{} / {}", N(tpm), N(s))));
  std::string tpm_formula = r > tpm ? fmt::format("reservation {} > quota: never admitted", N(r))
                            : (f > 0 && r > s)
                                ? fmt::format("{} / ({} + {:.2f} × {})", N(tpm), N(s), f, N(r - s))
                                : fmt::format("{} / {}", N(tpm), N(s));
  a.bounds.push_back(MakeBound(Limit::kTpm, tpm, c.tpm, true, std::move(tpm_formula)));
  a.bounds.push_back(MakeBound(
      Limit::kConcurrency, quotas.max_concurrency, c.concurrency, true,
      !quotas.max_concurrency ? "no concurrency limit"
      : c.concurrency
          ? fmt::format("{} × 60 / {}", N(*quotas.max_concurrency), Seconds(w.latency_seconds))
          : "needs a latency (Little's law)"));
  a.bounds.push_back(MakeBound(
      Limit::kTpd, quotas.tokens_per_day, c.tpd, true,
      c.tpd ? fmt::format("{} / 1,440 / {}", N(*quotas.tokens_per_day), N(s)) : "no TPD quota"));

  // The binding bound and the one after it (strictly smaller wins: ties go to the earlier).
  std::vector<std::pair<Limit, double>> applying = Applying(c);
  std::stable_sort(applying.begin(), applying.end(),
                   [](const auto& x, const auto& y) { return x.second < y.second; });
  a.binding = applying[0].first;
  a.requests_per_minute = applying[0].second;
  if (applying.size() > 1) a.runner_up = applying[1].first;
  a.tokens_per_minute = a.requests_per_minute * static_cast<double>(s);

  if (a.max_tokens_defaulted) {
    a.notes.emplace_back(fmt::format(
        "max_tokens is not set: Bedrock reserves the model's default of {} output tokens per "
        "request",
        N(a.reserved_output_tokens)));
  }
  if (r > tpm) {
    a.notes.emplace_back(fmt::format(
        "the reservation ({} tokens) is above the TPM quota ({}): Bedrock throttles every such "
        "request",
        N(r), N(tpm)));
  }
  if (a.burndown > 1) {
    a.notes.emplace_back(
        fmt::format("{} counts each output token {} times at settlement (burndown)",
                    a.model_name.empty() ? "the model" : a.model_name, a.burndown));
  }
  if (s > r) {
    a.notes.emplace_back(fmt::format(
        "the settled charge ({}) is above the reservation ({}): Bedrock takes the difference "
        "when the request ends",
        N(s), N(r)));
  }
  if (w.latency_seconds == 0) {
    a.notes.emplace_back(
        quotas.max_concurrency
            ? "no latency given: reservations are taken as released at once, and the "
              "concurrency limit cannot be converted to a rate"
            : "no latency given: reservations are taken as released at once (settlement bound)");
  } else if (f >= 1) {
    a.notes.emplace_back(
        "requests last a minute or more: each holds its whole reservation for a full minute, so "
        "TPM binds at reservation");
  }
  if (quotas.requests_per_minute) {
    a.notes.emplace_back(
        "bedrock-runtime no longer enforces RPM quotas on current accounts; the RPM bound may "
        "not apply");
  }
  AddReliefs(a);
  return a;
}

double TpmBoundWithReservedOutput(const Analysis& analysis, int64_t reserved_output) {
  return TpmBound(analysis.quotas.tokens_per_minute, analysis.prompt_tokens + reserved_output,
                  analysis.settlement_tokens, analysis.in_flight_fraction);
}

json::value AnalysisToJson(const Analysis& a) {
  json::object out;
  out["model"] = {{"id", a.model_id},
                  {"name", a.model_name},
                  {"burndown", a.burndown},
                  {"max_output_tokens", a.model_max_output_tokens}};
  out["quotas"] = {{"rpm", OptionalInt(a.quotas.requests_per_minute)},
                   {"tpm", a.quotas.tokens_per_minute},
                   {"tpd", OptionalInt(a.quotas.tokens_per_day)},
                   {"concurrency", OptionalInt(a.quotas.max_concurrency)}};
  out["workload"] = {{"input_tokens", a.workload.input_tokens},
                     {"cache_write_tokens", a.workload.cache_write_tokens},
                     {"cache_read_tokens", a.workload.cache_read_tokens},
                     {"max_tokens", OptionalInt(a.workload.max_tokens)},
                     {"expected_output_tokens", a.workload.expected_output_tokens},
                     {"latency_seconds", a.workload.latency_seconds}};
  out["per_request"] = {{"prompt_tokens", a.prompt_tokens},
                        {"reserved_output_tokens", a.reserved_output_tokens},
                        {"max_tokens_defaulted", a.max_tokens_defaulted},
                        {"reservation_tokens", a.reservation_tokens},
                        {"settlement_tokens", a.settlement_tokens},
                        {"in_flight_fraction", a.in_flight_fraction}};
  json::array bounds;
  for (const Bound& b : a.bounds) {
    bounds.push_back(json::object{
        {"limit", LimitName(b.limit)},
        {"title", LimitTitle(b.limit)},
        {"quota", OptionalInt(b.quota)},
        {"requests_per_minute",
         b.requests_per_minute ? json::value(*b.requests_per_minute) : json::value(nullptr)},
        {"competes", b.competes},
        {"binding", b.limit == a.binding},
        {"formula", b.formula}});
  }
  out["bounds"] = std::move(bounds);
  out["binding"] = {
      {"limit", LimitName(a.binding)},
      {"requests_per_minute", a.requests_per_minute},
      {"tokens_per_minute", a.tokens_per_minute},
      {"runner_up", a.runner_up ? json::value(LimitName(*a.runner_up)) : json::value(nullptr)}};
  json::array reliefs;
  for (const Relief& r : a.reliefs) {
    reliefs.push_back(json::object{{"kind", ReliefKindName(r.kind)},
                                   {"limit", LimitName(r.limit)},
                                   {"value", OptionalInt(r.value)},
                                   {"requests_per_minute", r.requests_per_minute},
                                   {"text", r.text}});
  }
  out["reliefs"] = std::move(reliefs);
  json::array notes;
  for (const std::string& note : a.notes) notes.emplace_back(note);
  out["notes"] = std::move(notes);
  return out;
}

std::string RenderAnalysisTable(const Analysis& a) {
  const Workload& w = a.workload;
  std::string out;
  auto line = [&out](std::string_view text) {
    out += text;
    out += '\n';
  };
  line(fmt::format("model        {}{}, output burndown {}",
                   a.model_name.empty() ? a.model_id : a.model_name,
                   a.model_name.empty() ? "" : " (" + a.model_id + ")", a.burndown));
  line(fmt::format(
      "reserves     {} tokens = prompt {} + {} {}", N(a.reservation_tokens), N(a.prompt_tokens),
      a.max_tokens_defaulted ? "model default output" : "max_tokens", N(a.reserved_output_tokens)));
  if (w.cache_write_tokens > 0 || w.cache_read_tokens > 0) {
    line(fmt::format("             (prompt = input {} + cache write {} + cache read {})",
                     N(w.input_tokens), N(w.cache_write_tokens), N(w.cache_read_tokens)));
  }
  line(fmt::format("settles      {} tokens = input {} + cache write {} + output {} × {}",
                   N(a.settlement_tokens), N(w.input_tokens), N(w.cache_write_tokens),
                   N(w.expected_output_tokens), a.burndown));
  if (w.latency_seconds > 0) {
    line(fmt::format("in flight    {} = {:.2f} of a minute", Seconds(w.latency_seconds),
                     a.in_flight_fraction));
  }
  line("");

  // Columns sized to their widest cell.
  struct Row {
    std::string limit, quota, rate, formula;
  };
  // The binding row's rate carries " *"; the others are padded to keep the digits aligned.
  std::vector<Row> rows = {{"limit", "quota", "requests/min  ", "how"}};
  for (const Bound& b : a.bounds) {
    Row row{std::string(LimitTitle(b.limit)), b.quota ? N(*b.quota) : "-",
            b.requests_per_minute ? Rate(*b.requests_per_minute) : "-", b.formula};
    row.rate += b.limit == a.binding ? " *" : "  ";
    rows.push_back(std::move(row));
  }
  size_t w0 = 0;
  size_t w1 = 0;
  size_t w2 = 0;
  for (const Row& row : rows) {
    w0 = std::max(w0, row.limit.size());
    w1 = std::max(w1, row.quota.size());
    w2 = std::max(w2, row.rate.size());
  }
  for (const Row& row : rows) {
    line(fmt::format("{:<{}}  {:>{}}  {:>{}}  {}", row.limit, w0, row.quota, w1, row.rate, w2,
                     row.formula));
  }
  line("");
  std::string binding = fmt::format(
      "binding: {} (*): at most {} requests/min, {} settled tokens/min", LimitTitle(a.binding),
      Rate(a.requests_per_minute), N(static_cast<int64_t>(std::llround(a.tokens_per_minute))));
  if (a.runner_up) {
    binding += fmt::format("; next: {} at {}", LimitTitle(*a.runner_up),
                           Rate(*a.BoundFor(*a.runner_up).requests_per_minute));
  }
  line(binding);
  if (!a.reliefs.empty()) {
    line("to go faster:");
    for (const Relief& r : a.reliefs) line("  - " + r.text);
  }
  if (!a.notes.empty()) {
    line("notes:");
    for (const std::string& note : a.notes) line("  - " + note);
  }
  return out;
}

Chart MaxTokensChart(const Analysis& a) {
  Chart chart;
  chart.title = fmt::format("Requests per minute against max_tokens: {}",
                            a.model_name.empty() ? a.model_id : a.model_name);
  chart.x = Axis{"max_tokens", "output tokens reserved", false, 0};
  chart.y = Axis{"requests per minute", "", false, 0};

  std::optional<int64_t> suggested;
  for (const Relief& r : a.reliefs) {
    if (r.kind == Relief::Kind::kLowerMaxTokens) suggested = r.value;
  }
  // From the expected output (nothing below is usable) to past the current setting, where the
  // curve has flattened; up to the model's maximum when that is what is reserved.
  const int64_t lo = std::max<int64_t>(a.workload.expected_output_tokens, 1);
  int64_t hi = std::max(
      {a.reserved_output_tokens + a.reserved_output_tokens / 2, suggested.value_or(0) * 2, lo * 2});
  if (a.model_max_output_tokens >= a.reserved_output_tokens && a.model_max_output_tokens > 0) {
    hi = std::min(hi, a.model_max_output_tokens);
  }
  hi = std::max(hi, lo + 1);
  LineSeries tpm{"TPM, steady state (this latency)", {}, 0x0072B2};
  constexpr int kSamples = 240;
  for (int i = 0; i <= kSamples; ++i) {
    const int64_t m = lo + (hi - lo) * i / kSamples;
    tpm.points.push_back(Point{static_cast<double>(m), TpmBoundWithReservedOutput(a, m)});
  }
  chart.lines.push_back(std::move(tpm));

  const Bound& settlement = a.BoundFor(Limit::kTpmAtSettlement);
  chart.references.push_back(
      ReferenceLine{fmt::format("TPM at settlement: {}/min", Rate(*settlement.requests_per_minute)),
                    *settlement.requests_per_minute, 0x888888});
  for (Limit limit : {Limit::kRpm, Limit::kConcurrency, Limit::kTpd}) {
    const Bound& b = a.BoundFor(limit);
    if (!b.requests_per_minute) continue;
    chart.references.push_back(ReferenceLine{
        fmt::format("{} {}: {}/min", LimitTitle(limit), N(*b.quota), Rate(*b.requests_per_minute)),
        *b.requests_per_minute, std::nullopt});
  }
  chart.markers.push_back(
      Marker{fmt::format("{} {}", a.max_tokens_defaulted ? "model default" : "max_tokens now",
                         N(a.reserved_output_tokens)),
             static_cast<double>(a.reserved_output_tokens)});
  if (suggested) {
    chart.markers.push_back(
        Marker{fmt::format("suggested {}", N(*suggested)), static_cast<double>(*suggested)});
  }
  return chart;
}

}  // namespace quotaflow::report
