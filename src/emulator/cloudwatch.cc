#include "emulator/cloudwatch.h"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <tl/expected.hpp>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "emulator/wire.h"

namespace quotaflow::emulator {

namespace json = boost::json;

namespace {

constexpr std::string_view kContentType = "application/x-amz-json-1.0";
constexpr std::string_view kBedrockNamespace = "AWS/Bedrock";
constexpr std::string_view kModelIdDimension = "ModelId";
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// GetMetricStatistics' limit on datapoints per call.
constexpr int64_t kMaxStatisticsDatapoints = 1440;
// GetMetricData's default MaxDatapoints, and the most grid points an expression may fill.
constexpr int64_t kMaxDataDatapoints = 100'800;
constexpr size_t kMaxDimensions = 30;
constexpr size_t kMaxDataQueries = 500;
constexpr int64_t kDescribeAlarmsPageDefault = 50;
constexpr size_t kListMetricsPage = 500;

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t ToEpochSecond(WallTime t) {
  return FloorDiv(t.time_since_epoch().count(), int64_t{1'000'000'000});
}

double ToEpochSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Where a period grid starts for a request's StartTime, as CloudWatch rounds it: down to the
// minute for periods of a minute or more, else down to a multiple of the period (5, 10, 20, 30 s
// land on even divisions of a minute, as documented).
int64_t AlignStart(int64_t start_s, int64_t period) {
  const int64_t unit = period >= 60 ? 60 : period;
  return FloorDiv(start_s, unit) * unit;
}

// ------------------------------------------------------------------------------------------------
// Errors: the query-compatible code botocore reports (from x-amzn-query-error) and the __type.

struct ApiError {
  int status = 400;
  std::string code;  // "InvalidParameterValue"
  std::string type;  // body __type
  std::string message;
};

ApiError InvalidParameterValue(std::string message) {
  return {400, "InvalidParameterValue", "com.amazonaws.cloudwatch#InvalidParameterValueException",
          std::move(message)};
}
ApiError MissingParameter(std::string message) {
  return {400, "MissingParameter", "com.amazonaws.cloudwatch#MissingRequiredParameterException",
          std::move(message)};
}
ApiError InvalidParameterCombination(std::string message) {
  return {400, "InvalidParameterCombination",
          "com.amazonaws.cloudwatch#InvalidParameterCombinationException", std::move(message)};
}
ApiError InvalidNextToken(std::string message) {
  return {400, "InvalidNextToken", "com.amazonaws.cloudwatch#InvalidNextToken", std::move(message)};
}

template <class T>
using Expected = tl::expected<T, ApiError>;

// ------------------------------------------------------------------------------------------------
// Typed, validating reads of one JSON object of a request. The first problem is kept (AWS reports
// one) and later reads return defaults, so a parser reads its fields straight through and checks
// failed() once. Field paths are spelled as AWS spells them: "MetricData.member.2.Value".

class Reader {
 public:
  Reader(const json::object* object, std::string path, std::optional<ApiError>* error)
      : object_(object), path_(std::move(path)), error_(error) {}

  bool present() const { return object_ != nullptr; }
  bool failed() const { return error_->has_value(); }
  void Fail(ApiError error) const {
    if (!error_->has_value()) *error_ = std::move(error);
  }
  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const std::string& path() const { return path_; }

  // Present and not null.
  const json::value* Find(std::string_view key) const {
    if (object_ == nullptr) return nullptr;
    const json::value* v = object_->if_contains(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  std::optional<std::string> OptString(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Fail(InvalidParameterValue("The parameter " + Path(key) + " must be a string."));
      return std::nullopt;
    }
    return std::string(v->get_string());
  }
  // Required and non-empty.
  std::string String(std::string_view key) const {
    std::optional<std::string> s = OptString(key);
    if (!s) {
      if (!Has(key)) Fail(MissingParameter("The parameter " + Path(key) + " is required."));
      return {};
    }
    if (s->empty()) {
      Fail(InvalidParameterValue("The parameter " + Path(key) + " must not be empty."));
    }
    return *s;
  }

  std::optional<double> OptNumber(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_double()) return v->get_double();
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    Fail(InvalidParameterValue("The parameter " + Path(key) + " must be a number."));
    return std::nullopt;
  }
  double Number(std::string_view key) const {
    std::optional<double> d = OptNumber(key);
    if (!d && !Has(key)) Fail(MissingParameter("The parameter " + Path(key) + " is required."));
    return d.value_or(0);
  }

  std::optional<int64_t> OptInt(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= uint64_t{INT64_MAX}) {
      return static_cast<int64_t>(v->get_uint64());
    }
    if (v->is_double()) {
      const double d = v->get_double();
      if (d >= -9.0e18 && d <= 9.0e18 && std::floor(d) == d) return static_cast<int64_t>(d);
    }
    Fail(InvalidParameterValue("The parameter " + Path(key) + " must be an integer."));
    return std::nullopt;
  }
  int64_t Int(std::string_view key) const {
    std::optional<int64_t> i = OptInt(key);
    if (!i && !Has(key)) Fail(MissingParameter("The parameter " + Path(key) + " is required."));
    return i.value_or(0);
  }

  std::optional<bool> OptBool(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) {
      Fail(InvalidParameterValue("The parameter " + Path(key) + " must be a boolean."));
      return std::nullopt;
    }
    return v->get_bool();
  }

  const json::array* OptArray(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      Fail(InvalidParameterValue("The parameter " + Path(key) + " must be a list."));
      return nullptr;
    }
    return &v->get_array();
  }

  std::vector<std::string> StringList(std::string_view key) const {
    std::vector<std::string> out;
    const json::array* a = OptArray(key);
    if (a == nullptr) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string()) {
        Fail(InvalidParameterValue("The parameter " + Member(key, i) + " must be a string."));
        return {};
      }
      out.emplace_back((*a)[i].get_string());
    }
    return out;
  }

  std::vector<double> NumberList(std::string_view key) const {
    std::vector<double> out;
    const json::array* a = OptArray(key);
    if (a == nullptr) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      const json::value& v = (*a)[i];
      if (v.is_double()) {
        out.push_back(v.get_double());
      } else if (v.is_int64()) {
        out.push_back(static_cast<double>(v.get_int64()));
      } else if (v.is_uint64()) {
        out.push_back(static_cast<double>(v.get_uint64()));
      } else {
        Fail(InvalidParameterValue("The parameter " + Member(key, i) + " must be a number."));
        return {};
      }
    }
    return out;
  }

  // The object at `key`; a reader of nothing when absent.
  Reader Object(std::string_view key) const {
    const json::value* v = Find(key);
    if (v != nullptr && !v->is_object()) {
      Fail(InvalidParameterValue("The parameter " + Path(key) + " must be a structure."));
      v = nullptr;
    }
    return Reader(v == nullptr ? nullptr : &v->get_object(), Path(key), error_);
  }

  // Readers of the objects in the list at `key`.
  std::vector<Reader> Members(std::string_view key) const {
    std::vector<Reader> out;
    const json::array* a = OptArray(key);
    if (a == nullptr) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_object()) {
        Fail(InvalidParameterValue("The parameter " + Member(key, i) + " must be a structure."));
        return {};
      }
      out.emplace_back(&(*a)[i].get_object(), Member(key, i), error_);
    }
    return out;
  }

 private:
  std::string Member(std::string_view key, size_t index) const {
    return Path(key) + ".member." + std::to_string(index + 1);
  }

  const json::object* object_;
  std::string path_;
  std::optional<ApiError>* error_;
};

// ------------------------------------------------------------------------------------------------
// Metrics and statistics.

struct Dimension {
  std::string name;
  std::string value;
  auto operator<=>(const Dimension&) const = default;
};
using Dimensions = std::vector<Dimension>;  // sorted by name, names distinct

// The metric a query names, with its optional unit filter.
struct MetricRef {
  std::string ns;
  std::string name;
  Dimensions dims;
  std::optional<std::string> unit;
};

Dimensions ReadDimensions(const Reader& r, std::string_view key) {
  Dimensions dims;
  for (const Reader& d : r.Members(key)) {
    dims.push_back({d.String("Name"), d.String("Value")});
  }
  if (r.failed()) return {};
  if (dims.size() > kMaxDimensions) {
    r.Fail(InvalidParameterValue("The collection " + r.Path(key) +
                                 " must not have more than 30 members."));
    return {};
  }
  std::sort(dims.begin(), dims.end());
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i].name == dims[i - 1].name) {
      r.Fail(InvalidParameterValue("The collection " + r.Path(key) +
                                   " must not contain duplicate dimension names."));
      return {};
    }
  }
  return dims;
}

json::array DimensionsJson(const Dimensions& dims) {
  json::array out;
  for (const Dimension& d : dims) out.push_back(json::object{{"Name", d.name}, {"Value", d.value}});
  return out;
}

// CloudWatch's StandardUnit values, each between bars.
constexpr std::string_view kUnits =
    "|Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|"
    "Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|"
    "Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|"
    "Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None|";

bool IsUnit(std::string_view unit) {
  return !unit.empty() && unit.find('|') == std::string_view::npos &&
         kUnits.find("|" + std::string(unit) + "|") != std::string_view::npos;
}

std::optional<std::string> ReadUnit(const Reader& r, std::string_view key) {
  std::optional<std::string> unit = r.OptString(key);
  if (unit && !IsUnit(*unit)) {
    r.Fail(InvalidParameterValue("The value " + *unit + " for parameter " + r.Path(key) +
                                 " is not a valid unit."));
    return std::nullopt;
  }
  return unit;
}

struct Statistic {
  enum class Kind : uint8_t { kSampleCount, kAverage, kSum, kMinimum, kMaximum, kPercentile };
  Kind kind = Kind::kSum;
  double percentile = 0;  // kPercentile: in [0, 100]
  std::string name;       // as the request spelled it: "Sum", "p99.9"
};

std::optional<Statistic> ParseBasicStatistic(std::string_view text) {
  static constexpr std::pair<std::string_view, Statistic::Kind> kBasic[] = {
      {"SampleCount", Statistic::Kind::kSampleCount},
      {"Average", Statistic::Kind::kAverage},
      {"Sum", Statistic::Kind::kSum},
      {"Minimum", Statistic::Kind::kMinimum},
      {"Maximum", Statistic::Kind::kMaximum}};
  for (const auto& [name, kind] : kBasic) {
    if (text == name) return Statistic{kind, 0, std::string(text)};
  }
  return std::nullopt;
}

// "p99", "p99.9", "p0" .. "p100". The other extended statistics (tm, wm, PR, IQM...) are not
// emulated.
std::optional<Statistic> ParsePercentile(std::string_view text) {
  if (text.size() < 2 || text[0] != 'p') return std::nullopt;
  const std::string_view digits = text.substr(1);
  if (!std::isdigit(static_cast<unsigned char>(digits.front())) ||
      !std::isdigit(static_cast<unsigned char>(digits.back()))) {
    return std::nullopt;
  }
  double p = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), p, std::chars_format::fixed);
  if (ec != std::errc() || end != digits.data() + digits.size() || p < 0 || p > 100) {
    return std::nullopt;
  }
  return Statistic{Statistic::Kind::kPercentile, p, std::string(text)};
}

std::optional<Statistic> ParseStatistic(std::string_view text) {
  if (std::optional<Statistic> s = ParseBasicStatistic(text)) return s;
  return ParsePercentile(text);
}

// ------------------------------------------------------------------------------------------------
// Storage.

// The values recorded in one bucket for one metric, with their weights, for percentiles. Kept as
// two sorted arrays (the search touches only the values) because Add runs several times per
// Record: on a busy second nearly every value lands on an existing entry.
class Distribution {
 public:
  void Add(double value, double weight) {
    if (quantized_) value = Quantize(value);
    const size_t i = LowerBound(value);
    if (i < values_.size() && values_[i] == value) {
      weights_[i] += weight;
      return;
    }
    values_.insert(values_.begin() + static_cast<std::ptrdiff_t>(i), value);
    weights_.insert(weights_.begin() + static_cast<std::ptrdiff_t>(i), weight);
    if (!quantized_ && values_.size() > kExactValues) QuantizeAll();
  }
  void AppendTo(std::vector<std::pair<double, double>>* out) const {
    for (size_t i = 0; i < values_.size(); ++i) out->emplace_back(values_[i], weights_[i]);
  }

 private:
  // Exact values kept per bucket before rounding starts: small tests see exact percentiles.
  static constexpr size_t kExactValues = 64;
  // Significand bits dropped by Quantize: 52 - 46 = 6 explicit bits are kept, 7 significant.
  static constexpr int kDroppedBits = 46;

  // Rounds to 7 significant bits (half away from zero; relative error <= 2^-7). Monotonic, so the
  // order of the entries is kept. Works on the bits: this runs on the hot path.
  static double Quantize(double value) {
    uint64_t bits = std::bit_cast<uint64_t>(value);
    bits = (bits + (uint64_t{1} << (kDroppedBits - 1))) & ~((uint64_t{1} << kDroppedBits) - 1);
    return std::bit_cast<double>(bits);
  }

  // std::lower_bound without branches on the comparison (they mispredict on random values).
  size_t LowerBound(double value) const {
    if (values_.empty()) return 0;
    const double* first = values_.data();
    size_t length = values_.size();
    while (length > 1) {
      const size_t half = length / 2;
      first = first[half] < value ? first + half : first;
      length -= half;
    }
    return static_cast<size_t>(first - values_.data()) + (*first < value ? 1 : 0);
  }

  void QuantizeAll() {
    size_t kept = 0;
    for (size_t i = 0; i < values_.size(); ++i) {
      const double q = Quantize(values_[i]);
      if (kept > 0 && values_[kept - 1] == q) {
        weights_[kept - 1] += weights_[i];
      } else {
        values_[kept] = q;
        weights_[kept] = weights_[i];
        ++kept;
      }
    }
    values_.resize(kept);
    weights_.resize(kept);
    quantized_ = true;
  }

  std::vector<double> values_;   // sorted, distinct
  std::vector<double> weights_;  // weights_[i] belongs to values_[i]
  bool quantized_ = false;
};

// One metric in one second.
struct Cell {
  double count = 0;
  double sum = 0;
  double min = kInfinity;
  double max = -kInfinity;
  Distribution values;
  // False once a statistic set with min < max was added: its values are unknown, so the second
  // has no percentiles (CloudWatch's rule for statistic sets).
  bool values_complete = true;

  void Add(double value, double weight) {
    count += weight;
    sum += value * weight;
    min = std::min(min, value);
    max = std::max(max, value);
    values.Add(value, weight);
  }
  void AddStatisticSet(double n, double s, double lo, double hi) {
    count += n;
    sum += s;
    min = std::min(min, lo);
    max = std::max(max, hi);
    if (lo == hi) {
      values.Add(lo, n);
    } else {
      values_complete = false;
    }
  }
};

struct Bucket {
  int64_t second = 0;  // epoch second
  std::vector<Cell> cells;
};

// A run of 1-second buckets shared by `width` metrics: the runtime metrics of one (region, model),
// or one put metric in one unit. Never destroyed before the store, so a pointer to it stays valid
// after the map lock is released.
struct Series {
  Series(size_t cells, std::string unit_name) : width(cells), unit(std::move(unit_name)) {}

  // The bucket of `second`, created if new; nullptr when `second` is before `oldest` (outside the
  // retention). Drops the buckets before `oldest` when it appends a new last bucket, so a series
  // that stops receiving data keeps its last buckets (queries skip them once too old).
  // REQUIRES: mu held.
  Bucket* BucketAt(int64_t second, int64_t oldest) {
    if (second < oldest) return nullptr;
    if (buckets.empty() || second > buckets.back().second) {
      while (!buckets.empty() && buckets.front().second < oldest) buckets.pop_front();
      buckets.push_back(Bucket{second, std::vector<Cell>(width)});
      return &buckets.back();
    }
    if (second == buckets.back().second) return &buckets.back();
    // Out of order: threads racing across a second boundary, or a PutMetricData timestamp.
    auto it = std::lower_bound(buckets.begin(), buckets.end(), second,
                               [](const Bucket& b, int64_t s) { return b.second < s; });
    if (it != buckets.end() && it->second == second) return &*it;
    return &*buckets.insert(it, Bucket{second, std::vector<Cell>(width)});
  }

  const size_t width;
  const std::string unit;  // put metrics only; the runtime metrics' units are in kRuntimeMetrics
  std::mutex mu;
  std::deque<Bucket> buckets;  // guarded by mu; ascending distinct seconds
  uint32_t seen = 0;           // guarded by mu; bit i: cell i has had data (ListMetrics)
};

// The runtime metrics, one cell each in a (region, model) series.
enum RuntimeMetric : size_t {
  kInvocations,
  kInvocationThrottles,
  kInvocationClientErrors,
  kInvocationServerErrors,
  kInvocationLatency,
  kInputTokenCount,
  kOutputTokenCount,
  kCacheReadInputTokenCount,
  kCacheWriteInputTokenCount,
  kTimeToFirstToken,
  kEstimatedTPMQuotaUsage,
  kRuntimeMetricCount,
};

struct RuntimeMetricInfo {
  std::string_view name;
  std::string_view unit;
};

constexpr RuntimeMetricInfo kRuntimeMetrics[kRuntimeMetricCount] = {
    {"Invocations", "Count"},
    {"InvocationThrottles", "Count"},
    {"InvocationClientErrors", "Count"},
    {"InvocationServerErrors", "Count"},
    {"InvocationLatency", "Milliseconds"},
    {"InputTokenCount", "Count"},
    {"OutputTokenCount", "Count"},
    {"CacheReadInputTokenCount", "Count"},
    {"CacheWriteInputTokenCount", "Count"},
    {"TimeToFirstToken", "Milliseconds"},
    {"EstimatedTPMQuotaUsage", "Count"},
};

std::optional<size_t> FindRuntimeMetric(std::string_view name) {
  for (size_t i = 0; i < kRuntimeMetricCount; ++i) {
    if (kRuntimeMetrics[i].name == name) return i;
  }
  return std::nullopt;
}

struct RuntimeKeyView {
  std::string_view region;
  std::string_view model;
};
struct RuntimeKey {
  std::string region;
  std::string model;
  operator RuntimeKeyView() const { return {region, model}; }  // NOLINT: heterogeneous lookup
};
struct RuntimeKeyHash {
  using is_transparent = void;
  size_t operator()(RuntimeKeyView k) const {
    const size_t h = std::hash<std::string_view>()(k.region);
    return h ^
           (std::hash<std::string_view>()(k.model) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};
struct RuntimeKeyEq {
  using is_transparent = void;
  bool operator()(RuntimeKeyView a, RuntimeKeyView b) const {
    return a.region == b.region && a.model == b.model;
  }
};

// A put metric: one series per unit it was put with.
struct CustomMetric {
  std::string ns;
  std::string name;
  Dimensions dims;
  std::map<std::string, std::unique_ptr<Series>, std::less<>> by_unit;
};

std::string CustomKey(std::string_view ns, std::string_view name, const Dimensions& dims) {
  std::string key;
  key.append(ns).push_back('\0');
  key.append(name).push_back('\0');
  for (const Dimension& d : dims) {
    key.append(d.name).push_back('\0');
    key.append(d.value).push_back('\0');
  }
  return key;
}

// Where a query's data lives: one cell of one series.
struct Source {
  Series* series;
  size_t cell;
  std::string_view unit;  // into kRuntimeMetrics or the series: stable
};

// One period of one metric, merged from every source.
struct Aggregate {
  double count = 0;
  double sum = 0;
  double min = kInfinity;
  double max = -kInfinity;
  std::vector<std::pair<double, double>> values;  // (value, weight): sorted, merged by Collect
  bool values_complete = true;
  std::string_view unit;
};

// Nearest rank: the smallest value whose cumulative weight reaches p% of the total.
// CloudWatch has no percentiles for data with negative values.
std::optional<double> Percentile(const Aggregate& a, double p) {
  if (!a.values_complete || a.values.empty() || a.min < 0) return std::nullopt;
  double total = 0;
  for (const auto& [value, weight] : a.values) total += weight;
  const double target = total * p / 100 * (1 - 1e-12);
  double cumulative = 0;
  for (const auto& [value, weight] : a.values) {
    cumulative += weight;
    if (cumulative >= target && cumulative > 0) return value;
  }
  return a.values.back().first;
}

std::optional<double> Evaluate(const Aggregate& a, const Statistic& s) {
  if (a.count <= 0) return std::nullopt;
  switch (s.kind) {
    case Statistic::Kind::kSampleCount:
      return a.count;
    case Statistic::Kind::kAverage:
      return a.sum / a.count;
    case Statistic::Kind::kSum:
      return a.sum;
    case Statistic::Kind::kMinimum:
      return a.min;
    case Statistic::Kind::kMaximum:
      return a.max;
    case Statistic::Kind::kPercentile:
      return Percentile(a, s.percentile);
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------------------------
// Metric math.

struct TimeSeries {
  int64_t period = 0;
  std::map<int64_t, double> points;  // window start (epoch second) -> value
};

struct MathValue {
  enum class Kind : uint8_t { kScalar, kSeries, kArray };
  Kind kind = Kind::kScalar;
  double scalar = 0;
  TimeSeries series;
  std::vector<TimeSeries> array;

  static MathValue Scalar(double d) { return {Kind::kScalar, d, {}, {}}; }
  static MathValue OfSeries(TimeSeries s) { return {Kind::kSeries, 0, std::move(s), {}}; }
};

using MathResult = tl::expected<MathValue, std::string>;

double Arithmetic(char op, double a, double b) {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    default:
      return std::pow(a, b);
  }
}

// `op` over two values: pointwise on one series, on the common timestamps of two (CloudWatch
// leaves a timestamp out when either side has no value there), elementwise on an array.
// Non-finite results (x/0) are dropped from series.
MathResult Apply(char op, const MathValue& a, const MathValue& b) {
  using Kind = MathValue::Kind;
  if (a.kind == Kind::kArray && b.kind == Kind::kArray) {
    return tl::unexpected(std::string("cannot combine two arrays of time series"));
  }
  if (a.kind == Kind::kArray || b.kind == Kind::kArray) {
    const bool left = a.kind == Kind::kArray;
    MathValue out{Kind::kArray, 0, {}, {}};
    for (const TimeSeries& s : left ? a.array : b.array) {
      MathResult r =
          left ? Apply(op, MathValue::OfSeries(s), b) : Apply(op, a, MathValue::OfSeries(s));
      if (!r) return r;
      out.array.push_back(std::move(r->series));
    }
    return out;
  }
  if (a.kind == Kind::kScalar && b.kind == Kind::kScalar) {
    return MathValue::Scalar(Arithmetic(op, a.scalar, b.scalar));
  }
  TimeSeries out;
  if (a.kind == Kind::kSeries && b.kind == Kind::kSeries) {
    out.period = std::min(a.series.period, b.series.period);
    for (const auto& [t, x] : a.series.points) {
      auto it = b.series.points.find(t);
      if (it == b.series.points.end()) continue;
      const double v = Arithmetic(op, x, it->second);
      if (std::isfinite(v)) out.points.emplace_hint(out.points.end(), t, v);
    }
    return MathValue::OfSeries(std::move(out));
  }
  const bool series_left = a.kind == Kind::kSeries;
  const TimeSeries& s = series_left ? a.series : b.series;
  const double c = series_left ? b.scalar : a.scalar;
  out.period = s.period;
  for (const auto& [t, x] : s.points) {
    const double v = series_left ? Arithmetic(op, x, c) : Arithmetic(op, c, x);
    if (std::isfinite(v)) out.points.emplace_hint(out.points.end(), t, v);
  }
  return MathValue::OfSeries(std::move(out));
}

// The request's time range, for functions that fill a period grid.
struct Range {
  int64_t start_s = 0;
  int64_t end_s = 0;
};

// Calls `fn(t)` for every window start of `period` in the range; false if there are too many.
template <class Fn>
bool ForEachWindow(const Range& range, int64_t period, Fn fn) {
  const int64_t first = AlignStart(range.start_s, period);
  if ((range.end_s - first) / period > kMaxDataDatapoints) return false;
  for (int64_t t = first; t < range.end_s; t += period) fn(t);
  return true;
}

// A recursive-descent evaluator of CloudWatch metric math:
//   sum     := product (('+' | '-') product)*
//   product := power (('*' | '/') power)*
//   power   := unary ('^' power)?
//   unary   := ('-' | '+') unary | primary
//   primary := number | id | NAME '(' sum (',' sum)* ')' | '(' sum ')' | '[' sum (',' sum)* ']'
// Functions: ABS(x), FILL(series, number), SUM/AVG/MIN/MAX(array) pointwise and of one series
// (a scalar over its points).
class MathParser {
 public:
  static constexpr int kMaxDepth = 100;

  using Lookup = std::function<MathResult(std::string_view id)>;

  MathParser(std::string_view text, const Lookup& lookup, Range range)
      : text_(text), lookup_(lookup), range_(range) {}

  MathResult Parse() {
    MathResult v = Sum();
    if (!v) return v;
    Skip();
    if (pos_ != text_.size()) return Error("unexpected '" + std::string(1, text_[pos_]) + "'");
    return v;
  }

 private:
  void Skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Accept(char c) {
    Skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string Where(const std::string& what) const {
    return what + " at position " + std::to_string(pos_ + 1);
  }
  MathResult Error(const std::string& what) const { return tl::unexpected(Where(what)); }

  MathResult Sum() {
    MathResult left = Product();
    while (left) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) break;
      const char op = text_[pos_++];
      MathResult right = Product();
      if (!right) return right;
      left = Apply(op, *left, *right);
    }
    return left;
  }

  MathResult Product() {
    MathResult left = Power();
    while (left) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '*' && text_[pos_] != '/')) break;
      const char op = text_[pos_++];
      MathResult right = Power();
      if (!right) return right;
      left = Apply(op, *left, *right);
    }
    return left;
  }

  MathResult Power() {
    MathResult base = Unary();
    if (!base || !Accept('^')) return base;
    MathResult exponent = Power();
    if (!exponent) return exponent;
    return Apply('^', *base, *exponent);
  }

  // Every level of nesting passes here, so the depth limit keeps hostile input off the stack of
  // the I/O thread.
  MathResult Unary() {
    if (depth_ == kMaxDepth) return Error("expression nested too deeply");
    ++depth_;
    MathResult v;
    if (Accept('-')) {
      v = Unary();
      if (v) v = Apply('*', MathValue::Scalar(-1), *v);
    } else if (Accept('+')) {
      v = Unary();
    } else {
      v = Primary();
    }
    --depth_;
    return v;
  }

  MathResult Primary() {
    Skip();
    if (pos_ >= text_.size()) return Error("unexpected end of expression");
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      MathResult v = Sum();
      if (!v) return v;
      if (!Accept(')')) return Error("expected ')'");
      return v;
    }
    if (c == '[') {
      ++pos_;
      tl::expected<std::vector<MathValue>, std::string> items = List(']');
      if (!items) return tl::unexpected(items.error());
      MathValue out{MathValue::Kind::kArray, 0, {}, {}};
      for (MathValue& item : *items) {
        if (item.kind == MathValue::Kind::kSeries) {
          out.array.push_back(std::move(item.series));
        } else if (item.kind == MathValue::Kind::kArray) {
          for (TimeSeries& s : item.array) out.array.push_back(std::move(s));
        } else {
          return Error("an array holds time series, not numbers");
        }
      }
      return out;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      double d = 0;
      const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), d);
      if (ec != std::errc()) return Error("bad number");
      pos_ = static_cast<size_t>(end - text_.data());
      return MathValue::Scalar(d);
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      const size_t begin = pos_;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        ++pos_;
      }
      const std::string_view name = text_.substr(begin, pos_ - begin);
      if (Accept('(')) return Call(name);
      return lookup_(name);
    }
    return Error("unexpected '" + std::string(1, c) + "'");
  }

  // Parses `[sum (',' sum)*] close`, the opening bracket already taken.
  tl::expected<std::vector<MathValue>, std::string> List(char close) {
    std::vector<MathValue> items;
    if (Accept(close)) return items;
    while (true) {
      MathResult v = Sum();
      if (!v) return tl::unexpected(v.error());
      items.push_back(std::move(*v));
      if (Accept(close)) return items;
      if (!Accept(','))
        return tl::unexpected(Where(std::string("expected ',' or '") + close + "'"));
    }
  }

  MathResult Call(std::string_view name) {
    tl::expected<std::vector<MathValue>, std::string> list = List(')');
    if (!list) return tl::unexpected(list.error());
    std::vector<MathValue>& args = *list;
    using Kind = MathValue::Kind;
    const std::string fn(name);
    if (fn == "ABS") {
      if (args.size() != 1) return Error("ABS takes one argument");
      MathValue v = std::move(args[0]);
      auto abs_series = [](TimeSeries& s) {
        for (auto& [t, x] : s.points) x = std::fabs(x);
      };
      if (v.kind == Kind::kScalar) v.scalar = std::fabs(v.scalar);
      if (v.kind == Kind::kSeries) abs_series(v.series);
      for (TimeSeries& s : v.array) abs_series(s);
      return v;
    }
    if (fn == "FILL") {
      if (args.size() != 2 || args[1].kind != Kind::kScalar || args[0].kind == Kind::kScalar) {
        return Error("FILL takes a time series and a number");
      }
      MathValue v = std::move(args[0]);
      const double fill = args[1].scalar;
      bool ok = true;
      auto fill_series = [&](TimeSeries& s) {
        if (s.period <= 0) return;
        ok = ok && ForEachWindow(range_, s.period, [&](int64_t t) { s.points.emplace(t, fill); });
      };
      if (v.kind == Kind::kSeries) fill_series(v.series);
      for (TimeSeries& s : v.array) fill_series(s);
      if (!ok) return Error("FILL would produce too many datapoints");
      return v;
    }
    if (fn == "SUM" || fn == "AVG" || fn == "MIN" || fn == "MAX") {
      if (args.size() != 1) return Error(fn + " takes one argument");
      auto reduce = [&fn](const std::vector<double>& xs) {
        if (xs.empty()) return fn == "SUM" ? 0.0 : std::numeric_limits<double>::quiet_NaN();
        double acc = fn == "MIN" ? kInfinity : fn == "MAX" ? -kInfinity : 0;
        for (double x : xs) {
          acc = fn == "MIN" ? std::min(acc, x) : fn == "MAX" ? std::max(acc, x) : acc + x;
        }
        return fn == "AVG" ? acc / static_cast<double>(xs.size()) : acc;
      };
      const MathValue& v = args[0];
      if (v.kind == Kind::kScalar) return v;
      if (v.kind == Kind::kSeries) {
        std::vector<double> xs;
        xs.reserve(v.series.points.size());
        for (const auto& [t, x] : v.series.points) xs.push_back(x);
        return MathValue::Scalar(reduce(xs));
      }
      std::map<int64_t, std::vector<double>> by_time;
      TimeSeries out;
      for (const TimeSeries& s : v.array) {
        out.period = out.period == 0 ? s.period : std::min(out.period, s.period);
        for (const auto& [t, x] : s.points) by_time[t].push_back(x);
      }
      for (const auto& [t, xs] : by_time) out.points.emplace_hint(out.points.end(), t, reduce(xs));
      return MathValue::OfSeries(std::move(out));
    }
    return Error("unknown function " + fn);
  }

  std::string_view text_;
  const Lookup& lookup_;
  Range range_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ------------------------------------------------------------------------------------------------
// GetMetricData queries (also the Metrics of a metric-math alarm).

struct MetricStatQuery {
  MetricRef metric;
  int64_t period = 0;
  Statistic stat;
};

struct DataQuery {
  std::string id;
  std::optional<std::string> label;
  bool return_data = true;
  std::optional<MetricStatQuery> metric_stat;
  std::string expression;         // when no metric_stat
  std::optional<int64_t> period;  // MetricDataQuery.Period: the grid of a scalar expression
};

bool IsQueryId(std::string_view id) {
  if (id.empty() || !std::islower(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::vector<DataQuery> ReadDataQueries(const Reader& r, std::string_view key) {
  std::vector<DataQuery> out;
  std::set<std::string, std::less<>> ids;
  for (const Reader& q : r.Members(key)) {
    DataQuery d;
    d.id = q.String("Id");
    d.label = q.OptString("Label");
    d.return_data = q.OptBool("ReturnData").value_or(true);
    d.period = q.OptInt("Period");
    const Reader ms = q.Object("MetricStat");
    const std::optional<std::string> expression = q.OptString("Expression");
    if (q.failed()) return {};
    if (!IsQueryId(d.id)) {
      q.Fail(InvalidParameterValue("The value " + d.id + " for parameter " + q.Path("Id") +
                                   " is invalid: it must start with a lowercase letter and "
                                   "contain only letters, digits and underscores."));
      return {};
    }
    if (!ids.insert(d.id).second) {
      q.Fail(InvalidParameterValue("The value " + d.id + " for parameter " + q.Path("Id") +
                                   " is not unique."));
      return {};
    }
    if (ms.present() == expression.has_value()) {
      q.Fail(InvalidParameterCombination("Exactly one of " + q.Path("MetricStat") + " and " +
                                         q.Path("Expression") + " must be specified."));
      return {};
    }
    if (d.period && *d.period < 1) {
      q.Fail(
          InvalidParameterValue("The parameter " + q.Path("Period") + " must be greater than 0."));
      return {};
    }
    if (expression) {
      if (expression->empty() || expression->size() > 2048) {
        q.Fail(InvalidParameterValue("The parameter " + q.Path("Expression") +
                                     " must be 1 to 2048 characters long."));
        return {};
      }
      d.expression = *expression;
    } else {
      const Reader metric = ms.Object("Metric");
      if (!metric.present() && !ms.failed()) {
        q.Fail(MissingParameter("The parameter " + ms.Path("Metric") + " is required."));
        return {};
      }
      MetricStatQuery m;
      m.metric.ns = metric.String("Namespace");
      m.metric.name = metric.String("MetricName");
      m.metric.dims = ReadDimensions(metric, "Dimensions");
      m.metric.unit = ReadUnit(ms, "Unit");
      m.period = ms.Int("Period");
      const std::string stat = ms.String("Stat");
      if (q.failed()) return {};
      if (m.period < 1) {
        q.Fail(InvalidParameterValue("The parameter " + ms.Path("Period") +
                                     " must be greater than 0."));
        return {};
      }
      std::optional<Statistic> s = ParseStatistic(stat);
      if (!s) {
        q.Fail(InvalidParameterValue("The value " + stat + " for parameter " + ms.Path("Stat") +
                                     " is not supported."));
        return {};
      }
      m.stat = std::move(*s);
      d.metric_stat = std::move(m);
    }
    out.push_back(std::move(d));
  }
  if (out.size() > kMaxDataQueries) {
    r.Fail(InvalidParameterValue("The collection " + r.Path(key) +
                                 " must not have more than 500 members."));
    return {};
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Alarms.

enum class Comparison : uint8_t {
  kGreaterOrEqual,
  kGreater,
  kLess,
  kLessOrEqual,
};

constexpr std::pair<std::string_view, Comparison> kComparisons[] = {
    {"GreaterThanOrEqualToThreshold", Comparison::kGreaterOrEqual},
    {"GreaterThanThreshold", Comparison::kGreater},
    {"LessThanThreshold", Comparison::kLess},
    {"LessThanOrEqualToThreshold", Comparison::kLessOrEqual},
};

std::string_view ComparisonName(Comparison c) {
  for (const auto& [name, value] : kComparisons) {
    if (value == c) return name;
  }
  return {};
}

std::string_view ComparisonPhrase(Comparison c) {
  switch (c) {
    case Comparison::kGreaterOrEqual:
      return "greater than or equal to";
    case Comparison::kGreater:
      return "greater than";
    case Comparison::kLess:
      return "less than";
    case Comparison::kLessOrEqual:
      return "less than or equal to";
  }
  return {};
}

bool Breaches(Comparison c, double value, double threshold) {
  switch (c) {
    case Comparison::kGreaterOrEqual:
      return value >= threshold;
    case Comparison::kGreater:
      return value > threshold;
    case Comparison::kLess:
      return value < threshold;
    case Comparison::kLessOrEqual:
      return value <= threshold;
  }
  return false;
}

enum class MissingData : uint8_t { kMissing, kNotBreaching, kBreaching, kIgnore };

constexpr std::pair<std::string_view, MissingData> kMissingData[] = {
    {"missing", MissingData::kMissing},
    {"notBreaching", MissingData::kNotBreaching},
    {"breaching", MissingData::kBreaching},
    {"ignore", MissingData::kIgnore},
};

constexpr std::string_view kStateOk = "OK";
constexpr std::string_view kStateAlarm = "ALARM";
constexpr std::string_view kStateInsufficient = "INSUFFICIENT_DATA";

struct Alarm {
  // Configuration.
  std::string name;
  std::optional<std::string> description;
  bool actions_enabled = true;
  std::vector<std::string> ok_actions;
  std::vector<std::string> alarm_actions;
  std::vector<std::string> insufficient_data_actions;
  std::optional<MetricRef> metric;  // a single-metric alarm
  std::optional<Statistic> statistic;
  bool extended_statistic = false;
  std::vector<DataQuery> queries;  // a metric-math alarm
  size_t return_index = 0;         // the query the alarm watches
  json::value queries_json;        // echoed by DescribeAlarms
  int64_t period = 0;
  int64_t evaluation_periods = 0;
  std::optional<int64_t> datapoints_to_alarm;
  double threshold = 0;
  Comparison comparison = Comparison::kGreaterOrEqual;
  MissingData missing = MissingData::kMissing;
  std::optional<std::string> treat_missing_data;  // as given
  std::optional<std::string> evaluate_low_sample_count_percentile;
  WallTime configuration_updated;
  // State.
  std::string_view state = kStateInsufficient;
  std::string reason = "Unchecked: Initial alarm creation";
  std::string reason_data;
  WallTime state_updated;
};

std::string FormatNumber(double d) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string PageToken(size_t offset) { return "qf" + std::to_string(offset); }

std::optional<size_t> ParsePageToken(std::string_view token) {
  if (token.size() < 3 || token.substr(0, 2) != "qf") return std::nullopt;
  size_t offset = 0;
  const auto [end, ec] = std::from_chars(token.data() + 2, token.data() + token.size(), offset);
  if (ec != std::errc() || end != token.data() + token.size()) return std::nullopt;
  return offset;
}

}  // namespace

// ------------------------------------------------------------------------------------------------

class CloudWatchImpl {
 public:
  CloudWatchImpl(const Clock& clock, CloudWatchOptions options)
      : clock_(clock),
        options_(std::move(options)),
        retention_s_(std::max<int64_t>(
            1, std::chrono::ceil<std::chrono::seconds>(options_.retention).count())) {}

  void Record(const InvocationRecord& r);
  server::ServerResponse Handle(std::string_view region, std::string_view operation,
                                std::string_view body, std::string_view request_id);

  // The cells a metric reference names in `region`.
  std::vector<Source> Resolve(std::string_view region, const MetricRef& m) const;
  // Merges `sources` into periods of `period` seconds starting at `start_s` (already aligned) and
  // ending before `end_s`; only periods with data appear. Values are gathered only `with_values`.
  std::map<int64_t, Aggregate> Collect(const std::vector<Source>& sources, int64_t start_s,
                                       int64_t end_s, int64_t period, bool with_values) const;
  TimeSeries StatSeries(std::string_view region, const MetricStatQuery& q, Range range) const;

 private:
  int64_t NowSecond() const { return ToEpochSecond(clock_.WallNow()); }
  int64_t OldestSecond() const { return NowSecond() - retention_s_ + 1; }

  Series* RuntimeSeries(std::string_view region, std::string_view model);
  Series* PutSeries(std::string_view region, const MetricRef& m, std::string_view unit);

  Expected<json::object> GetMetricStatistics(std::string_view region, const json::object& in) const;
  Expected<json::object> GetMetricData(std::string_view region, const json::object& in);
  Expected<json::object> PutMetricData(std::string_view region, const json::object& in);
  Expected<json::object> ListMetrics(std::string_view region, const json::object& in);
  Expected<json::object> PutMetricAlarm(std::string_view region, const json::object& in);
  Expected<json::object> DescribeAlarms(std::string_view region, const json::object& in);
  Expected<json::object> DeleteAlarms(std::string_view region, const json::object& in);

  // REQUIRES: alarms_mu_ held.
  void EvaluateAlarm(std::string_view region, Alarm& alarm);
  json::object AlarmJson(std::string_view region, const Alarm& alarm) const;

  const Clock& clock_;
  const CloudWatchOptions options_;
  const int64_t retention_s_;

  // Guards the two maps (not the series' contents: each series has its own mutex). Series are
  // never removed, so Record holds this only for the lookup. Lock order: alarms_mu_, maps_mu_,
  // Series::mu.
  mutable std::shared_mutex maps_mu_;
  std::unordered_map<RuntimeKey, std::unique_ptr<Series>, RuntimeKeyHash, RuntimeKeyEq> runtime_;
  // region -> CustomKey -> metric.
  std::map<std::string, std::map<std::string, CustomMetric>, std::less<>> custom_;

  std::mutex alarms_mu_;
  // region -> alarm name -> alarm; guarded by alarms_mu_.
  std::map<std::string, std::map<std::string, Alarm, std::less<>>, std::less<>> alarms_;
};

namespace {

// Evaluates the queries of one GetMetricData call (or metric-math alarm), each at most once.
class QueryRun {
 public:
  QueryRun(const CloudWatchImpl& store, std::string_view region,
           const std::vector<DataQuery>& queries, Range range)
      : store_(store),
        region_(region),
        queries_(queries),
        range_(range),
        results_(queries.size()),
        visiting_(queries.size(), false) {}

  Expected<TimeSeries> Result(size_t index) {
    if (results_[index]) return *results_[index];
    const DataQuery& q = queries_[index];
    if (q.metric_stat) {
      results_[index] = store_.StatSeries(region_, *q.metric_stat, range_);
      return *results_[index];
    }
    if (visiting_[index]) {
      return tl::unexpected(
          InvalidParameterValue("Error in expression " + q.id + ": circular reference"));
    }
    visiting_[index] = true;
    const MathParser::Lookup lookup = [this](std::string_view id) -> MathResult {
      for (size_t i = 0; i < queries_.size(); ++i) {
        if (queries_[i].id != id) continue;
        Expected<TimeSeries> s = Result(i);
        if (!s) return tl::unexpected(s.error().message);
        return MathValue::OfSeries(std::move(*s));
      }
      return tl::unexpected("unknown metric id " + std::string(id));
    };
    MathResult v = MathParser(q.expression, lookup, range_).Parse();
    visiting_[index] = false;
    if (!v) {
      // A nested failure already names its expression.
      const std::string& m = v.error();
      return tl::unexpected(InvalidParameterValue(
          m.rfind("Error in expression", 0) == 0 ? m : "Error in expression " + q.id + ": " + m));
    }
    TimeSeries out;
    switch (v->kind) {
      case MathValue::Kind::kSeries:
        out = std::move(v->series);
        break;
      case MathValue::Kind::kScalar: {
        // A constant is drawn over the grid, like a threshold line on a graph.
        out.period = q.period.value_or(DefaultPeriod());
        const double c = v->scalar;
        if (!ForEachWindow(range_, out.period, [&](int64_t t) {
              if (std::isfinite(c)) out.points.emplace_hint(out.points.end(), t, c);
            })) {
          return tl::unexpected(
              InvalidParameterValue("Error in expression " + q.id + ": too many datapoints"));
        }
        break;
      }
      case MathValue::Kind::kArray:
        return tl::unexpected(InvalidParameterValue(
            "Error in expression " + q.id + ": the expression must return a single time series"));
    }
    results_[index] = std::move(out);
    return *results_[index];
  }

 private:
  int64_t DefaultPeriod() const {
    int64_t period = 0;
    for (const DataQuery& q : queries_) {
      if (q.metric_stat) {
        period = period == 0 ? q.metric_stat->period : std::min(period, q.metric_stat->period);
      }
    }
    return period == 0 ? 60 : period;
  }

  const CloudWatchImpl& store_;
  std::string_view region_;
  const std::vector<DataQuery>& queries_;
  Range range_;
  std::vector<std::optional<TimeSeries>> results_;
  std::vector<bool> visiting_;
};

}  // namespace

// ------------------------------------------------------------------------------------------------
// The store.

Series* CloudWatchImpl::RuntimeSeries(std::string_view region, std::string_view model) {
  const RuntimeKeyView key{region, model};
  {
    std::shared_lock lock(maps_mu_);
    auto it = runtime_.find(key);
    if (it != runtime_.end()) return it->second.get();
  }
  std::unique_lock lock(maps_mu_);
  auto [it, inserted] = runtime_.try_emplace(RuntimeKey{std::string(region), std::string(model)});
  if (inserted) it->second = std::make_unique<Series>(kRuntimeMetricCount, std::string());
  return it->second.get();
}

void CloudWatchImpl::Record(const InvocationRecord& r) {
  Series* series = RuntimeSeries(r.region, r.model_id);
  const int64_t second = ToEpochSecond(r.at);
  const int64_t oldest = OldestSecond();
  std::lock_guard lock(series->mu);
  Bucket* bucket = series->BucketAt(second, oldest);
  if (bucket == nullptr) return;
  auto add = [&](RuntimeMetric metric, double value) {
    bucket->cells[metric].Add(value, 1);
    series->seen |= uint32_t{1} << metric;
  };
  using Outcome = InvocationRecord::Outcome;
  switch (r.outcome) {
    case Outcome::kThrottled:
      add(kInvocationThrottles, 1);
      return;
    case Outcome::kClientError:
      add(kInvocations, 1);
      add(kInvocationClientErrors, 1);
      return;
    case Outcome::kServerError:
      add(kInvocations, 1);
      add(kInvocationServerErrors, 1);
      return;
    case Outcome::kSuccess:
      break;
  }
  add(kInvocations, 1);
  add(kInvocationLatency, r.latency_ms);
  add(kInputTokenCount, static_cast<double>(r.input_tokens));
  add(kOutputTokenCount, static_cast<double>(r.output_tokens));
  if (r.cache_read_input_tokens > 0) {
    add(kCacheReadInputTokenCount, static_cast<double>(r.cache_read_input_tokens));
  }
  if (r.cache_write_input_tokens > 0) {
    add(kCacheWriteInputTokenCount, static_cast<double>(r.cache_write_input_tokens));
  }
  if (r.time_to_first_token_ms) add(kTimeToFirstToken, *r.time_to_first_token_ms);
  add(kEstimatedTPMQuotaUsage, static_cast<double>(r.quota_tokens));
}

Series* CloudWatchImpl::PutSeries(std::string_view region, const MetricRef& m,
                                  std::string_view unit) {
  const std::string key = CustomKey(m.ns, m.name, m.dims);
  {
    std::shared_lock lock(maps_mu_);
    auto r = custom_.find(region);
    if (r != custom_.end()) {
      auto it = r->second.find(key);
      if (it != r->second.end()) {
        auto u = it->second.by_unit.find(unit);
        if (u != it->second.by_unit.end()) return u->second.get();
      }
    }
  }
  std::unique_lock lock(maps_mu_);
  auto r = custom_.find(region);
  if (r == custom_.end()) r = custom_.try_emplace(std::string(region)).first;
  CustomMetric& metric = r->second[key];
  if (metric.name.empty()) {
    metric.ns = m.ns;
    metric.name = m.name;
    metric.dims = m.dims;
  }
  auto [u, inserted] = metric.by_unit.try_emplace(std::string(unit));
  if (inserted) u->second = std::make_unique<Series>(1, std::string(unit));
  return u->second.get();
}

std::vector<Source> CloudWatchImpl::Resolve(std::string_view region, const MetricRef& m) const {
  std::vector<Source> out;
  std::shared_lock lock(maps_mu_);
  if (m.ns == kBedrockNamespace) {
    if (std::optional<size_t> metric = FindRuntimeMetric(m.name)) {
      const std::string_view unit = kRuntimeMetrics[*metric].unit;
      if (!m.unit || *m.unit == unit) {
        if (m.dims.empty()) {
          // The account-level series: every model of the region.
          for (const auto& [key, series] : runtime_) {
            if (key.region == region) out.push_back({series.get(), *metric, unit});
          }
        } else if (m.dims.size() == 1 && m.dims[0].name == kModelIdDimension) {
          auto it = runtime_.find(RuntimeKeyView{region, m.dims[0].value});
          if (it != runtime_.end()) out.push_back({it->second.get(), *metric, unit});
        }
      }
    }
  }
  auto r = custom_.find(region);
  if (r != custom_.end()) {
    auto it = r->second.find(CustomKey(m.ns, m.name, m.dims));
    if (it != r->second.end()) {
      for (const auto& [unit, series] : it->second.by_unit) {
        if (!m.unit || *m.unit == unit) out.push_back({series.get(), 0, series->unit});
      }
    }
  }
  return out;
}

std::map<int64_t, Aggregate> CloudWatchImpl::Collect(const std::vector<Source>& sources,
                                                     int64_t start_s, int64_t end_s, int64_t period,
                                                     bool with_values) const {
  std::map<int64_t, Aggregate> out;
  const int64_t from = std::max(start_s, OldestSecond());
  for (const Source& source : sources) {
    std::lock_guard lock(source.series->mu);
    const std::deque<Bucket>& buckets = source.series->buckets;
    auto it = std::lower_bound(buckets.begin(), buckets.end(), from,
                               [](const Bucket& b, int64_t s) { return b.second < s; });
    for (; it != buckets.end() && it->second < end_s; ++it) {
      const Cell& cell = it->cells[source.cell];
      if (cell.count <= 0) continue;
      const int64_t window = start_s + FloorDiv(it->second - start_s, period) * period;
      Aggregate& a = out[window];
      a.count += cell.count;
      a.sum += cell.sum;
      a.min = std::min(a.min, cell.min);
      a.max = std::max(a.max, cell.max);
      a.values_complete = a.values_complete && cell.values_complete;
      if (a.unit.empty()) a.unit = source.unit;
      if (with_values) {
        cell.values.AppendTo(&a.values);
      }
    }
  }
  if (with_values) {
    // Sorted and merged outside any lock.
    for (auto& [window, a] : out) {
      std::sort(a.values.begin(), a.values.end());
      size_t kept = 0;
      for (size_t i = 0; i < a.values.size(); ++i) {
        if (kept > 0 && a.values[kept - 1].first == a.values[i].first) {
          a.values[kept - 1].second += a.values[i].second;
        } else {
          a.values[kept++] = a.values[i];
        }
      }
      a.values.resize(kept);
    }
  }
  return out;
}

TimeSeries CloudWatchImpl::StatSeries(std::string_view region, const MetricStatQuery& q,
                                      Range range) const {
  TimeSeries out;
  out.period = q.period;
  const std::vector<Source> sources = Resolve(region, q.metric);
  const bool with_values = q.stat.kind == Statistic::Kind::kPercentile;
  for (const auto& [window, a] :
       Collect(sources, AlignStart(range.start_s, q.period), range.end_s, q.period, with_values)) {
    if (std::optional<double> v = Evaluate(a, q.stat)) {
      out.points.emplace_hint(out.points.end(), window, *v);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Operations.

namespace {

// StartTime and EndTime as whole seconds: [floor(start), ceil(end)).
Expected<Range> ReadRange(const Reader& r) {
  const double start = r.Number("StartTime");
  const double end = r.Number("EndTime");
  if (r.failed()) return Range{};
  if (!(start < end)) {
    return tl::unexpected(
        InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime."));
  }
  if (std::fabs(start) > 1e15 || std::fabs(end) > 1e15) {
    return tl::unexpected(InvalidParameterValue("The parameter StartTime or EndTime is invalid."));
  }
  return Range{static_cast<int64_t>(std::floor(start)), static_cast<int64_t>(std::ceil(end))};
}

}  // namespace

Expected<json::object> CloudWatchImpl::GetMetricStatistics(std::string_view region,
                                                           const json::object& in) const {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  MetricRef m;
  m.ns = r.String("Namespace");
  m.name = r.String("MetricName");
  m.dims = ReadDimensions(r, "Dimensions");
  m.unit = ReadUnit(r, "Unit");
  const Expected<Range> range = ReadRange(r);
  const int64_t period = r.Int("Period");
  const std::vector<std::string> basic_names = r.StringList("Statistics");
  const std::vector<std::string> extended_names = r.StringList("ExtendedStatistics");
  if (error) return tl::unexpected(*error);
  if (!range) return tl::unexpected(range.error());
  if (period < 1) {
    return tl::unexpected(InvalidParameterValue("The parameter Period must be greater than 0."));
  }
  if (basic_names.empty() && extended_names.empty()) {
    return tl::unexpected(
        MissingParameter("Must specify either the parameter Statistics or ExtendedStatistics."));
  }
  if (!basic_names.empty() && !extended_names.empty()) {
    return tl::unexpected(InvalidParameterCombination(
        "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have "
        "specified both."));
  }
  std::vector<Statistic> stats;
  for (size_t i = 0; i < basic_names.size(); ++i) {
    std::optional<Statistic> s = ParseBasicStatistic(basic_names[i]);
    if (!s) {
      return tl::unexpected(InvalidParameterValue(
          "The parameter Statistics.member." + std::to_string(i + 1) +
          " must be a value in the set [ Minimum, Maximum, Sum, SampleCount, Average ]."));
    }
    stats.push_back(std::move(*s));
  }
  for (size_t i = 0; i < extended_names.size(); ++i) {
    std::optional<Statistic> s = ParsePercentile(extended_names[i]);
    if (!s) {
      return tl::unexpected(InvalidParameterValue("The value " + extended_names[i] +
                                                  " for parameter ExtendedStatistics.member." +
                                                  std::to_string(i + 1) + " is not supported."));
    }
    stats.push_back(std::move(*s));
  }
  const int64_t start = AlignStart(range->start_s, period);
  const int64_t windows = (range->end_s - start + period - 1) / period;
  if (windows > kMaxStatisticsDatapoints) {
    return tl::unexpected(InvalidParameterCombination(
        "You have requested up to " + std::to_string(windows) +
        " datapoints, which exceeds the limit of 1440. You may reduce the datapoints requested "
        "by increasing Period, or decreasing the time range."));
  }

  const bool with_values = !extended_names.empty();
  const std::map<int64_t, Aggregate> periods =
      Collect(Resolve(region, m), start, range->end_s, period, with_values);
  json::array datapoints;
  for (const auto& [window, a] : periods) {
    json::object dp;
    dp["Timestamp"] = static_cast<double>(window);
    json::object extended;
    for (const Statistic& s : stats) {
      const std::optional<double> v = Evaluate(a, s);
      if (!v) continue;
      if (s.kind == Statistic::Kind::kPercentile) {
        extended[s.name] = *v;
      } else {
        dp[s.name] = *v;
      }
    }
    if (with_values) dp["ExtendedStatistics"] = std::move(extended);
    dp["Unit"] = a.unit.empty() ? std::string_view("None") : a.unit;
    datapoints.push_back(std::move(dp));
  }
  return json::object{{"Label", m.name}, {"Datapoints", std::move(datapoints)}};
}

Expected<json::object> CloudWatchImpl::GetMetricData(std::string_view region,
                                                     const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  if (!r.Has("MetricDataQueries")) {
    return tl::unexpected(MissingParameter("The parameter MetricDataQueries is required."));
  }
  const std::vector<DataQuery> queries = ReadDataQueries(r, "MetricDataQueries");
  const Expected<Range> range = ReadRange(r);
  const std::optional<std::string> token = r.OptString("NextToken");
  const std::optional<std::string> scan_by = r.OptString("ScanBy");
  const std::optional<int64_t> max_datapoints = r.OptInt("MaxDatapoints");
  if (error) return tl::unexpected(*error);
  if (!range) return tl::unexpected(range.error());
  if (scan_by && *scan_by != "TimestampDescending" && *scan_by != "TimestampAscending") {
    return tl::unexpected(InvalidParameterValue(
        "The value " + *scan_by +
        " for parameter ScanBy must be TimestampDescending or TimestampAscending."));
  }
  if (max_datapoints && *max_datapoints < 1) {
    return tl::unexpected(
        InvalidParameterValue("The parameter MaxDatapoints must be greater than 0."));
  }
  size_t offset = 0;
  if (token) {
    std::optional<size_t> parsed = ParsePageToken(*token);
    if (!parsed) return tl::unexpected(InvalidNextToken("The NextToken is invalid."));
    offset = *parsed;
  }
  const bool ascending = scan_by && *scan_by == "TimestampAscending";

  QueryRun run(*this, region, queries, *range);
  struct Result {
    const DataQuery* query;
    std::vector<std::pair<int64_t, double>> points;
  };
  std::vector<Result> results;
  bool has_expression = false;
  size_t total = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    has_expression = has_expression || !queries[i].metric_stat;
    if (!queries[i].return_data) continue;
    Expected<TimeSeries> series = run.Result(i);
    if (!series) return tl::unexpected(series.error());
    Result result{&queries[i], {series->points.begin(), series->points.end()}};
    if (!ascending) std::reverse(result.points.begin(), result.points.end());
    total += result.points.size();
    results.push_back(std::move(result));
  }
  // Pages cut the datapoints of all results, in query order. As on AWS, a request with metric
  // math is not paginated.
  const size_t page =
      has_expression ? total : static_cast<size_t>(max_datapoints.value_or(kMaxDataDatapoints));
  if (offset > total) return tl::unexpected(InvalidNextToken("The NextToken is invalid."));
  const size_t page_end = offset + std::min(page, total - offset);

  json::array out;
  size_t base = 0;
  for (const Result& result : results) {
    json::array timestamps;
    json::array values;
    const size_t n = result.points.size();
    for (size_t i = std::max(base, offset); i < std::min(base + n, page_end); ++i) {
      timestamps.push_back(static_cast<double>(result.points[i - base].first));
      values.push_back(result.points[i - base].second);
    }
    const bool more = base + n > page_end;
    base += n;
    const DataQuery& q = *result.query;
    std::string label = q.label.value_or(q.metric_stat ? q.metric_stat->metric.name : q.id);
    out.push_back(json::object{{"Id", q.id},
                               {"Label", std::move(label)},
                               {"Timestamps", std::move(timestamps)},
                               {"Values", std::move(values)},
                               {"StatusCode", more ? "PartialData" : "Complete"}});
  }
  json::object response{{"MetricDataResults", std::move(out)}, {"Messages", json::array()}};
  if (page_end < total) response["NextToken"] = PageToken(page_end);
  return response;
}

Expected<json::object> CloudWatchImpl::PutMetricData(std::string_view region,
                                                     const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  const std::string ns = r.String("Namespace");
  if (error) return tl::unexpected(*error);
  if (ns.size() > 255) {
    return tl::unexpected(InvalidParameterValue("The parameter Namespace is too long."));
  }

  // What one datum adds, validated before anything is stored: AWS stores all or nothing.
  struct Datum {
    MetricRef metric;
    std::string unit;
    int64_t second = 0;
    std::vector<std::pair<double, double>> values;  // (value, count)
    std::optional<std::array<double, 4>> set;       // SampleCount, Sum, Minimum, Maximum
  };
  std::vector<Datum> data;
  const WallTime now = clock_.WallNow();
  const double now_s = ToEpochSeconds(now);
  auto read = [&](const Reader& d) {
    Datum datum;
    datum.metric.ns = ns;
    datum.metric.name = d.String("MetricName");
    datum.metric.dims = ReadDimensions(d, "Dimensions");
    datum.unit = ReadUnit(d, "Unit").value_or("None");
    const std::optional<double> timestamp = d.OptNumber("Timestamp");
    const std::optional<double> value = d.OptNumber("Value");
    const std::vector<double> values = d.NumberList("Values");
    const std::vector<double> counts = d.NumberList("Counts");
    const Reader set = d.Object("StatisticValues");
    std::array<double, 4> stats{};
    if (set.present()) {
      stats = {set.Number("SampleCount"), set.Number("Sum"), set.Number("Minimum"),
               set.Number("Maximum")};
    }
    const std::optional<int64_t> resolution = d.OptInt("StorageResolution");
    if (d.failed()) return;
    const int forms = (value ? 1 : 0) + (d.Has("Values") ? 1 : 0) + (set.present() ? 1 : 0);
    if (forms == 0) {
      d.Fail(MissingParameter("The parameter " + d.Path("Value") + " is required."));
      return;
    }
    if (forms > 1) {
      d.Fail(InvalidParameterCombination("The parameters " + d.Path("Value") + ", " +
                                         d.Path("Values") + " and " + d.Path("StatisticValues") +
                                         " are mutually exclusive."));
      return;
    }
    if (d.Has("Counts") && counts.size() != values.size()) {
      d.Fail(InvalidParameterValue("The parameters " + d.Path("Values") + " and " +
                                   d.Path("Counts") + " must be of the same size."));
      return;
    }
    if (resolution && *resolution != 1 && *resolution != 60) {
      d.Fail(InvalidParameterValue("The parameter " + d.Path("StorageResolution") +
                                   " must be 1 or 60."));
      return;
    }
    constexpr double kLimit = 1e108;  // ~2^360, CloudWatch's documented range
    auto bad = [&](double v) { return !std::isfinite(v) || std::fabs(v) > kLimit; };
    if (value) {
      if (bad(*value)) {
        d.Fail(InvalidParameterValue("The value " + FormatNumber(*value) + " for parameter " +
                                     d.Path("Value") + " is invalid."));
        return;
      }
      datum.values.emplace_back(*value, 1);
    }
    for (size_t i = 0; i < values.size(); ++i) {
      const double count = counts.empty() ? 1 : counts[i];
      if (bad(values[i]) || count < 0) {
        d.Fail(InvalidParameterValue("The parameter " + d.Path("Values") + " is invalid."));
        return;
      }
      if (count > 0) datum.values.emplace_back(values[i], count);
    }
    if (set.present()) {
      if (stats[0] <= 0 || stats[2] > stats[3] || bad(stats[1])) {
        d.Fail(InvalidParameterValue("The parameter " + d.Path("StatisticValues") +
                                     " is invalid: SampleCount must be positive and Minimum "
                                     "at most Maximum."));
        return;
      }
      datum.set = stats;
    }
    const double t = timestamp.value_or(now_s);
    // AWS accepts timestamps up to two weeks old and two hours ahead.
    if (t > now_s + 2 * 3600 || t < now_s - 14 * 86400) {
      d.Fail(InvalidParameterValue("The parameter " + d.Path("Timestamp") +
                                   " must specify a time no more than two weeks in the past and "
                                   "no more than two hours in the future."));
      return;
    }
    datum.second = static_cast<int64_t>(std::floor(t));
    data.push_back(std::move(datum));
  };
  for (const Reader& d : r.Members("MetricData")) read(d);
  for (const Reader& e : r.Members("EntityMetricData")) {
    for (const Reader& d : e.Members("MetricData")) read(d);
  }
  if (error) return tl::unexpected(*error);
  if (data.empty()) {
    return tl::unexpected(MissingParameter("The parameter MetricData is required."));
  }
  if (data.size() > 1000) {
    return tl::unexpected(
        InvalidParameterValue("The collection MetricData must not have more than 1000 members."));
  }

  // Data older than the retention is accepted and dropped, as it would have aged out by now.
  const int64_t oldest = OldestSecond();
  for (const Datum& datum : data) {
    Series* series = PutSeries(region, datum.metric, datum.unit);
    std::lock_guard lock(series->mu);
    Bucket* bucket = series->BucketAt(datum.second, oldest);
    if (bucket == nullptr) continue;
    Cell& cell = bucket->cells[0];
    for (const auto& [value, count] : datum.values) cell.Add(value, count);
    if (datum.set) {
      const std::array<double, 4>& s = *datum.set;
      cell.AddStatisticSet(s[0], s[1], s[2], s[3]);
    }
    series->seen = 1;
  }
  return json::object{};
}

Expected<json::object> CloudWatchImpl::ListMetrics(std::string_view region,
                                                   const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  const std::optional<std::string> ns = r.OptString("Namespace");
  const std::optional<std::string> name = r.OptString("MetricName");
  std::vector<std::pair<std::string, std::optional<std::string>>> filters;
  for (const Reader& f : r.Members("Dimensions")) {
    filters.emplace_back(f.String("Name"), f.OptString("Value"));
  }
  const std::optional<std::string> token = r.OptString("NextToken");
  const std::optional<std::string> recently_active = r.OptString("RecentlyActive");
  if (error) return tl::unexpected(*error);
  if (recently_active && *recently_active != "PT3H") {
    return tl::unexpected(
        InvalidParameterValue("The value for parameter RecentlyActive must be PT3H."));
  }
  size_t offset = 0;
  if (token) {
    std::optional<size_t> parsed = ParsePageToken(*token);
    if (!parsed) return tl::unexpected(InvalidNextToken("The NextToken is invalid."));
    offset = *parsed;
  }

  using Entry = std::tuple<std::string, std::string, Dimensions>;
  std::set<Entry> entries;
  auto consider = [&](std::string_view entry_ns, std::string_view entry_name,
                      const Dimensions& dims) {
    if (ns && *ns != entry_ns) return;
    if (name && *name != entry_name) return;
    for (const auto& [filter_name, filter_value] : filters) {
      const bool match = std::any_of(dims.begin(), dims.end(), [&](const Dimension& d) {
        return d.name == filter_name && (!filter_value || d.value == *filter_value);
      });
      if (!match) return;
    }
    entries.emplace(std::string(entry_ns), std::string(entry_name), dims);
  };
  std::vector<std::pair<std::string, Series*>> models;
  {
    std::shared_lock lock(maps_mu_);
    for (const auto& [key, series] : runtime_) {
      if (key.region == region) models.emplace_back(key.model, series.get());
    }
    auto it = custom_.find(region);
    if (it != custom_.end()) {
      for (const auto& [key, metric] : it->second) consider(metric.ns, metric.name, metric.dims);
    }
  }
  for (const auto& [model, series] : models) {
    uint32_t seen = 0;
    {
      std::lock_guard lock(series->mu);
      seen = series->seen;
    }
    for (size_t i = 0; i < kRuntimeMetricCount; ++i) {
      if ((seen & (uint32_t{1} << i)) == 0) continue;
      consider(kBedrockNamespace, kRuntimeMetrics[i].name, {});
      consider(kBedrockNamespace, kRuntimeMetrics[i].name,
               {Dimension{std::string(kModelIdDimension), model}});
    }
  }
  if (offset > entries.size()) return tl::unexpected(InvalidNextToken("The NextToken is invalid."));
  json::array metrics;
  auto it = std::next(entries.begin(), static_cast<std::ptrdiff_t>(offset));
  size_t taken = 0;
  for (; it != entries.end() && taken < kListMetricsPage; ++it, ++taken) {
    const auto& [entry_ns, entry_name, dims] = *it;
    metrics.push_back(json::object{
        {"Namespace", entry_ns}, {"MetricName", entry_name}, {"Dimensions", DimensionsJson(dims)}});
  }
  json::object response{{"Metrics", std::move(metrics)}};
  if (offset + taken < entries.size()) response["NextToken"] = PageToken(offset + taken);
  return response;
}

Expected<json::object> CloudWatchImpl::PutMetricAlarm(std::string_view region,
                                                      const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  Alarm a;
  a.name = r.String("AlarmName");
  a.description = r.OptString("AlarmDescription");
  a.actions_enabled = r.OptBool("ActionsEnabled").value_or(true);
  a.ok_actions = r.StringList("OKActions");
  a.alarm_actions = r.StringList("AlarmActions");
  a.insufficient_data_actions = r.StringList("InsufficientDataActions");
  a.evaluation_periods = r.Int("EvaluationPeriods");
  a.datapoints_to_alarm = r.OptInt("DatapointsToAlarm");
  const std::optional<double> threshold = r.OptNumber("Threshold");
  const std::string comparison = r.String("ComparisonOperator");
  a.treat_missing_data = r.OptString("TreatMissingData");
  a.evaluate_low_sample_count_percentile = r.OptString("EvaluateLowSampleCountPercentile");
  const bool math = r.Has("Metrics");
  const std::optional<std::string> statistic = r.OptString("Statistic");
  const std::optional<std::string> extended = r.OptString("ExtendedStatistic");
  if (error) return tl::unexpected(*error);

  if (a.name.size() > 255) {
    return tl::unexpected(InvalidParameterValue("The parameter AlarmName is too long."));
  }
  if (a.evaluation_periods < 1) {
    return tl::unexpected(
        InvalidParameterValue("The parameter EvaluationPeriods must be greater than 0."));
  }
  if (a.datapoints_to_alarm &&
      (*a.datapoints_to_alarm < 1 || *a.datapoints_to_alarm > a.evaluation_periods)) {
    return tl::unexpected(InvalidParameterValue(
        "The parameter DatapointsToAlarm must be between 1 and EvaluationPeriods."));
  }
  if (!threshold) {
    if (r.Has("ThresholdMetricId")) {
      return tl::unexpected(InvalidParameterValue(
          "Anomaly detection alarms (ThresholdMetricId) are not supported by the emulator."));
    }
    return tl::unexpected(MissingParameter("The parameter Threshold is required."));
  }
  a.threshold = *threshold;
  auto cmp = std::find_if(std::begin(kComparisons), std::end(kComparisons),
                          [&](const auto& c) { return c.first == comparison; });
  if (cmp == std::end(kComparisons)) {
    return tl::unexpected(InvalidParameterValue(
        "The value " + comparison +
        " for parameter ComparisonOperator is not supported (the emulator supports the four "
        "static-threshold operators)."));
  }
  a.comparison = cmp->second;
  if (a.treat_missing_data) {
    auto m = std::find_if(std::begin(kMissingData), std::end(kMissingData),
                          [&](const auto& c) { return c.first == *a.treat_missing_data; });
    if (m == std::end(kMissingData)) {
      return tl::unexpected(InvalidParameterValue(
          "The value " + *a.treat_missing_data +
          " for parameter TreatMissingData must be one of breaching, notBreaching, ignore, "
          "missing."));
    }
    a.missing = m->second;
  }

  if (math) {
    for (std::string_view key : {"MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                 "Dimensions", "Period", "Unit"}) {
      if (r.Has(key)) {
        return tl::unexpected(InvalidParameterCombination("The parameter " + std::string(key) +
                                                          " must not be specified with Metrics."));
      }
    }
    a.queries = ReadDataQueries(r, "Metrics");
    if (error) return tl::unexpected(*error);
    size_t returned = 0;
    for (size_t i = 0; i < a.queries.size(); ++i) {
      if (a.queries[i].return_data) {
        ++returned;
        a.return_index = i;
      }
    }
    if (returned != 1) {
      return tl::unexpected(InvalidParameterValue(
          "Exactly one element of the Metrics list must have ReturnData set to true."));
    }
    // The watched query's period; an expression's is its Period or its metrics' shortest.
    const DataQuery& watched = a.queries[a.return_index];
    if (watched.metric_stat) {
      a.period = watched.metric_stat->period;
    } else if (watched.period) {
      a.period = *watched.period;
    } else {
      for (const DataQuery& q : a.queries) {
        if (q.metric_stat) {
          a.period =
              a.period == 0 ? q.metric_stat->period : std::min(a.period, q.metric_stat->period);
        }
      }
    }
    if (a.period < 1) {
      return tl::unexpected(
          MissingParameter("The parameter Metrics must include a MetricStat with a Period."));
    }
    // Expressions are checked now, so that DescribeAlarms never meets a broken one.
    const Range probe{NowSecond() - a.period, NowSecond()};
    QueryRun run(*this, region, a.queries, probe);
    for (size_t i = 0; i < a.queries.size(); ++i) {
      Expected<TimeSeries> s = run.Result(i);
      if (!s) return tl::unexpected(s.error());
    }
    a.queries_json = *r.Find("Metrics");
  } else {
    MetricRef m;
    m.name = r.String("MetricName");
    m.ns = r.String("Namespace");
    m.dims = ReadDimensions(r, "Dimensions");
    m.unit = ReadUnit(r, "Unit");
    a.period = r.Int("Period");
    if (error) return tl::unexpected(*error);
    if (a.period < 1) {
      return tl::unexpected(InvalidParameterValue("The parameter Period must be greater than 0."));
    }
    if (statistic.has_value() == extended.has_value()) {
      return tl::unexpected(InvalidParameterCombination(
          "Exactly one of the parameters Statistic and ExtendedStatistic must be specified."));
    }
    a.statistic = statistic ? ParseBasicStatistic(*statistic) : ParsePercentile(*extended);
    if (!a.statistic) {
      return tl::unexpected(InvalidParameterValue(
          "The value " + statistic.value_or(extended.value_or("")) + " for parameter " +
          (statistic ? "Statistic" : "ExtendedStatistic") + " is not supported."));
    }
    a.extended_statistic = extended.has_value();
    a.metric = std::move(m);
  }
  if (a.period * a.evaluation_periods > int64_t{7} * 86400) {
    return tl::unexpected(InvalidParameterValue(
        "The product of Period and EvaluationPeriods must not exceed 604800 seconds."));
  }

  const WallTime now = clock_.WallNow();
  a.configuration_updated = now;
  a.state_updated = now;
  std::lock_guard lock(alarms_mu_);
  auto& by_name = alarms_[std::string(region)];
  auto it = by_name.find(a.name);
  if (it != by_name.end()) {
    // An update keeps the state (AWS): only the configuration is replaced.
    a.state = it->second.state;
    a.reason = std::move(it->second.reason);
    a.reason_data = std::move(it->second.reason_data);
    a.state_updated = it->second.state_updated;
    it->second = std::move(a);
  } else {
    const std::string name = a.name;
    by_name.emplace(name, std::move(a));
  }
  return json::object{};
}

// A StateReasonData date: "2014-04-09T18:59:06.419+0000".
static std::string ReasonDate(WallTime t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::milliseconds> time{ms - day};
  char out[40];
  std::snprintf(out, sizeof(out), "%04d-%02u-%02uT%02d:%02d:%02d.%03d+0000",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<int>(time.subseconds().count()));
  return out;
}

void CloudWatchImpl::EvaluateAlarm(std::string_view region, Alarm& a) {
  const WallTime now = clock_.WallNow();
  const int64_t period = a.period;
  const int64_t n = a.evaluation_periods;
  const int64_t end = FloorDiv(ToEpochSecond(now), period) * period;
  const Range range{end - n * period, end};
  TimeSeries series;
  if (a.metric) {
    series = StatSeries(region, MetricStatQuery{*a.metric, period, *a.statistic}, range);
  } else {
    QueryRun run(*this, region, a.queries, range);
    Expected<TimeSeries> s = run.Result(a.return_index);
    if (!s) return;  // validated at PutMetricAlarm; keep the state if it fails anyway
    series = std::move(*s);
  }

  const int64_t m = a.datapoints_to_alarm.value_or(n);
  int64_t breaching = 0;
  int64_t evaluated = 0;
  json::array recent;
  for (int64_t k = 0; k < n; ++k) {
    auto it = series.points.find(range.start_s + k * period);
    if (it != series.points.end()) {
      ++evaluated;
      if (Breaches(a.comparison, it->second, a.threshold)) ++breaching;
      recent.push_back(it->second);
    } else if (a.missing == MissingData::kBreaching) {
      ++evaluated;
      ++breaching;
    } else if (a.missing == MissingData::kNotBreaching) {
      ++evaluated;
    }
  }

  std::string_view state;
  std::string reason;
  const std::string threshold = FormatNumber(a.threshold);
  const std::string_view phrase = ComparisonPhrase(a.comparison);
  if (evaluated == 0) {
    if (a.missing == MissingData::kIgnore) return;  // "the current alarm state is maintained"
    state = kStateInsufficient;
    reason = "Insufficient Data: " + std::to_string(n) + " datapoint" + (n == 1 ? "" : "s") +
             " were unknown.";
  } else if (breaching >= m) {
    state = kStateAlarm;
    reason = "Threshold Crossed: " + std::to_string(breaching) + " out of the last " +
             std::to_string(n) + " datapoints were " + std::string(phrase) + " the threshold (" +
             threshold + ") (minimum " + std::to_string(m) + " datapoint" + (m == 1 ? "" : "s") +
             " for OK -> ALARM transition).";
  } else {
    state = kStateOk;
    reason = "Threshold Crossed: " + std::to_string(evaluated - breaching) + " out of the last " +
             std::to_string(n) + " datapoints were not " + std::string(phrase) +
             " the threshold (" + threshold + ").";
  }
  if (state == a.state) return;
  a.state = state;
  a.reason = std::move(reason);
  // Shaped like CloudWatch's own: dates as "2014-04-09T18:59:06.419+0000" strings.
  json::object data{{"version", "1.0"},
                    {"queryDate", ReasonDate(now)},
                    {"startDate", ReasonDate(WallTime(std::chrono::seconds(range.start_s)))}};
  if (a.metric) data["statistic"] = a.statistic->name;
  data["period"] = period;
  data["recentDatapoints"] = std::move(recent);
  data["threshold"] = a.threshold;
  data["evaluatedDatapoints"] = evaluated;
  a.reason_data = json::serialize(data);
  a.state_updated = now;
}

json::object CloudWatchImpl::AlarmJson(std::string_view region, const Alarm& a) const {
  auto strings = [](const std::vector<std::string>& v) {
    json::array out;
    for (const std::string& s : v) out.emplace_back(s);
    return out;
  };
  json::object o;
  o["AlarmName"] = a.name;
  o["AlarmArn"] =
      "arn:aws:cloudwatch:" + std::string(region) + ":" + options_.account_id + ":alarm:" + a.name;
  if (a.description) o["AlarmDescription"] = *a.description;
  o["AlarmConfigurationUpdatedTimestamp"] = ToEpochSeconds(a.configuration_updated);
  o["ActionsEnabled"] = a.actions_enabled;
  o["OKActions"] = strings(a.ok_actions);
  o["AlarmActions"] = strings(a.alarm_actions);
  o["InsufficientDataActions"] = strings(a.insufficient_data_actions);
  o["StateValue"] = a.state;
  o["StateReason"] = a.reason;
  if (!a.reason_data.empty()) o["StateReasonData"] = a.reason_data;
  o["StateUpdatedTimestamp"] = ToEpochSeconds(a.state_updated);
  o["StateTransitionedTimestamp"] = ToEpochSeconds(a.state_updated);
  if (a.metric) {
    o["MetricName"] = a.metric->name;
    o["Namespace"] = a.metric->ns;
    o[a.extended_statistic ? "ExtendedStatistic" : "Statistic"] = a.statistic->name;
    o["Dimensions"] = DimensionsJson(a.metric->dims);
    o["Period"] = a.period;
    if (a.metric->unit) o["Unit"] = *a.metric->unit;
  } else {
    o["Metrics"] = a.queries_json;
  }
  o["EvaluationPeriods"] = a.evaluation_periods;
  if (a.datapoints_to_alarm) o["DatapointsToAlarm"] = *a.datapoints_to_alarm;
  o["Threshold"] = a.threshold;
  o["ComparisonOperator"] = ComparisonName(a.comparison);
  if (a.treat_missing_data) o["TreatMissingData"] = *a.treat_missing_data;
  if (a.evaluate_low_sample_count_percentile) {
    o["EvaluateLowSampleCountPercentile"] = *a.evaluate_low_sample_count_percentile;
  }
  return o;
}

Expected<json::object> CloudWatchImpl::DescribeAlarms(std::string_view region,
                                                      const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  const std::vector<std::string> names = r.StringList("AlarmNames");
  const std::optional<std::string> prefix = r.OptString("AlarmNamePrefix");
  const std::optional<std::string> state = r.OptString("StateValue");
  const std::optional<std::string> action_prefix = r.OptString("ActionPrefix");
  const std::vector<std::string> types = r.StringList("AlarmTypes");
  const std::optional<int64_t> max_records = r.OptInt("MaxRecords");
  const std::optional<std::string> token = r.OptString("NextToken");
  if (error) return tl::unexpected(*error);
  if (!names.empty() && prefix) {
    return tl::unexpected(InvalidParameterCombination(
        "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive."));
  }
  if (names.size() > 100) {
    return tl::unexpected(
        InvalidParameterValue("The collection AlarmNames must not have more than 100 members."));
  }
  if (state && *state != kStateOk && *state != kStateAlarm && *state != kStateInsufficient) {
    return tl::unexpected(InvalidParameterValue("The value " + *state +
                                                " for parameter StateValue must be OK, ALARM or "
                                                "INSUFFICIENT_DATA."));
  }
  if (max_records && (*max_records < 1 || *max_records > 100)) {
    return tl::unexpected(
        InvalidParameterValue("The parameter MaxRecords must be between 1 and 100."));
  }
  const bool metric_alarms =
      types.empty() || std::find(types.begin(), types.end(), "MetricAlarm") != types.end();
  const size_t limit = static_cast<size_t>(max_records.value_or(kDescribeAlarmsPageDefault));

  json::array out;
  std::optional<std::string> next;
  {
    std::lock_guard lock(alarms_mu_);
    auto by_region = alarms_.find(region);
    if (metric_alarms && by_region != alarms_.end()) {
      // The token is the first name of the next page: stable across deletions.
      auto it = token ? by_region->second.lower_bound(*token) : by_region->second.begin();
      for (; it != by_region->second.end(); ++it) {
        Alarm& a = it->second;
        if (!names.empty() && std::find(names.begin(), names.end(), a.name) == names.end()) {
          continue;
        }
        if (prefix && a.name.rfind(*prefix, 0) != 0) continue;
        if (action_prefix) {
          auto has = [&](const std::vector<std::string>& actions) {
            return std::any_of(actions.begin(), actions.end(), [&](const std::string& s) {
              return s.rfind(*action_prefix, 0) == 0;
            });
          };
          if (!has(a.alarm_actions) && !has(a.ok_actions) && !has(a.insufficient_data_actions)) {
            continue;
          }
        }
        EvaluateAlarm(region, a);
        if (state && *state != a.state) continue;
        if (out.size() == limit) {
          next = a.name;
          break;
        }
        out.push_back(AlarmJson(region, a));
      }
    }
  }
  json::object response{{"MetricAlarms", std::move(out)}, {"CompositeAlarms", json::array()}};
  if (next) response["NextToken"] = *next;
  return response;
}

Expected<json::object> CloudWatchImpl::DeleteAlarms(std::string_view region,
                                                    const json::object& in) {
  std::optional<ApiError> error;
  const Reader r(&in, "", &error);
  if (!r.Has("AlarmNames")) {
    return tl::unexpected(MissingParameter("The parameter AlarmNames is required."));
  }
  const std::vector<std::string> names = r.StringList("AlarmNames");
  if (error) return tl::unexpected(*error);
  if (names.size() > 100) {
    return tl::unexpected(
        InvalidParameterValue("The collection AlarmNames must not have more than 100 members."));
  }
  // Unknown names are skipped: AWS deletes the alarms that exist ("If you specify any incorrect
  // alarm names, the alarms you specify with correct names are still deleted").
  std::lock_guard lock(alarms_mu_);
  auto by_region = alarms_.find(region);
  if (by_region != alarms_.end()) {
    for (const std::string& name : names) by_region->second.erase(name);
  }
  return json::object{};
}

server::ServerResponse CloudWatchImpl::Handle(std::string_view region, std::string_view operation,
                                              std::string_view body, std::string_view request_id) {
  try {
    boost::system::error_code ec;
    json::value doc = body.empty() ? json::value(json::object()) : json::parse(body, ec);
    if (ec || !doc.is_object()) {
      return AwsJsonError(400, kContentType, "SerializationException",
                          "The request body is not a JSON object.", request_id);
    }
    const json::object& in = doc.get_object();
    Expected<json::object> out;
    if (operation == "GetMetricStatistics") {
      out = GetMetricStatistics(region, in);
    } else if (operation == "GetMetricData") {
      out = GetMetricData(region, in);
    } else if (operation == "PutMetricData") {
      out = PutMetricData(region, in);
    } else if (operation == "ListMetrics") {
      out = ListMetrics(region, in);
    } else if (operation == "PutMetricAlarm") {
      out = PutMetricAlarm(region, in);
    } else if (operation == "DescribeAlarms") {
      out = DescribeAlarms(region, in);
    } else if (operation == "DeleteAlarms") {
      out = DeleteAlarms(region, in);
    } else {
      return AwsJsonError(400, kContentType, "UnknownOperationException",
                          "Unknown operation " + std::string(operation) + ".", request_id);
    }
    if (!out) {
      const ApiError& e = out.error();
      return AwsJsonError(e.status, kContentType, e.type, e.message, request_id,
                          e.code + ";Sender");
    }
    return JsonResponse(json::serialize(*out), request_id, kContentType);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; a handler on an I/O thread must still answer.
    return AwsJsonError(500, kContentType, "InternalServiceError", e.what(), request_id,
                        "InternalServiceError;Receiver");
  }
}

// ------------------------------------------------------------------------------------------------

CloudWatch::CloudWatch(const Clock& clock, CloudWatchOptions options)
    : impl_(std::make_unique<CloudWatchImpl>(clock, std::move(options))) {}

CloudWatch::~CloudWatch() = default;

void CloudWatch::Record(const InvocationRecord& record) { impl_->Record(record); }

server::ServerResponse CloudWatch::Handle(std::string_view region, std::string_view operation,
                                          std::string_view body, std::string_view request_id) {
  return impl_->Handle(region, operation, body, request_id);
}

}  // namespace quotaflow::emulator
