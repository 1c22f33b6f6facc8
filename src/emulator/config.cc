#include "emulator/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "emulator/quota_books.h"
#include "quotaflow/duration_text.h"

namespace quotaflow::emulator {
namespace {

// Every duration key but quotas.period (bounded by Validate(BooksOptions)) stays within a day:
// anything longer is a typo ("60m" meant as "60s"), not a setting a test needs.
constexpr Duration kMaxDuration = std::chrono::hours(24);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Result<OutputLengthOptions::Distribution> ParseDistribution(std::string_view name) {
  using Distribution = OutputLengthOptions::Distribution;
  if (name == "fixed") return Distribution::kFixed;
  if (name == "uniform") return Distribution::kUniform;
  if (name == "normal") return Distribution::kNormal;
  return tl::make_unexpected(Error::InvalidArgument("unknown distribution '" + std::string(name) +
                                                    "' (expected fixed, uniform or normal)"));
}

Result<IncreasePolicy> ParseIncreasePolicy(std::string_view name) {
  if (name == "approve") return IncreasePolicy::kApprove;
  if (name == "deny") return IncreasePolicy::kDeny;
  if (name == "pending") return IncreasePolicy::kPending;
  return tl::make_unexpected(Error::InvalidArgument(
      "unknown increase policy '" + std::string(name) + "' (expected approve, deny or pending)"));
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// kMaxTokens reads better as what it is.
std::string FormatBound(int64_t bound) {
  return bound == kMaxTokens ? "2^50" : std::to_string(bound);
}

// Levenshtein distance, for "did you mean" on an unknown key.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Holds the error of a document being read. Reading goes on after an error (the code stays
// straight-line), but only the error on the earliest line is kept: that is the one a user fixes
// first, and later ones are often its consequences.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  bool ok() const { return !error_.has_value(); }
  Error TakeError() { return std::move(*error_); }

  void Fail(const toml::source_region& where, std::string_view path, std::string_view why) {
    const auto line = static_cast<int64_t>(where.begin.line);  // 0: toml++ knows no position
    const int64_t order = line > 0 ? line : std::numeric_limits<int64_t>::max();
    if (error_ && order >= error_order_) return;
    std::string location = source_;
    if (line > 0) location += ":" + std::to_string(line);
    error_ = Error::InvalidArgument(location + ": " + std::string(path) + ": " + std::string(why));
    error_order_ = order;
  }

 private:
  std::string source_;
  std::optional<Error> error_;
  int64_t error_order_ = 0;  // the line of error_; errors without one sort last
};

// One TOML table of the document. Each read names a key the table may have, leaves the output
// alone when the key is absent, and reports a bad value; RejectUnknownKeys() then reports any key
// no read named. So the reads of a section are its schema.
// Not copyable: it refers to the table and the reader, which outlive it.
class Section {
 public:
  Section(Reader& reader, const toml::table& table, std::string path)
      : reader_(reader), table_(table), path_(std::move(path)) {}
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;

  Reader& reader() const { return reader_; }
  const toml::table& table() const { return table_; }
  const std::string& path() const { return path_; }
  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The value of `key`, or nullptr; either way `key` becomes a known key.
  const toml::node* Get(std::string_view key) {
    known_.push_back(key);
    return table_.get(key);
  }
  void Fail(const toml::node& node, std::string_view key, std::string_view why) {
    reader_.Fail(node.source(), Path(key), why);
  }
  // Fails, at the table, for each of `keys` that the table lacks.
  void Require(std::initializer_list<std::string_view> keys) {
    for (std::string_view key : keys) {
      if (!table_.contains(key))
        reader_.Fail(table_.source(), path_, "missing " + std::string(key));
    }
  }

  void Integer(std::string_view key, int64_t min, int64_t max, int64_t* out) {
    if (const toml::node* node = Get(key)) {
      if (std::optional<int64_t> value = IntegerIn(*node, key, min, max)) *out = *value;
    }
  }
  void OptionalInteger(std::string_view key, int64_t min, int64_t max,
                       std::optional<int64_t>* out) {
    if (const toml::node* node = Get(key)) {
      if (std::optional<int64_t> value = IntegerIn(*node, key, min, max)) *out = *value;
    }
  }

  enum class Empty : uint8_t { kAllowed, kRejected };
  void String(std::string_view key, Empty empty, std::string* out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    if (!node->is_string()) {
      Fail(*node, key, "must be a string, got " + std::string(TypeName(*node)));
    } else if (node->as_string()->get().empty() && empty == Empty::kRejected) {
      Fail(*node, key, "must not be empty");
    } else {
      *out = node->as_string()->get();
    }
  }

  // A list of non-empty strings; replaces the default list.
  void StringList(std::string_view key, std::vector<std::string>* out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, key, "must be an array of strings, got " + std::string(TypeName(*node)));
      return;
    }
    std::vector<std::string> values;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string element_key = std::string(key) + "[" + std::to_string(i) + "]";
      if (!element.is_string()) {
        Fail(element, element_key, "must be a string, got " + std::string(TypeName(element)));
      } else if (element.as_string()->get().empty()) {
        Fail(element, element_key, "must not be empty");
      } else {
        values.push_back(element.as_string()->get());
      }
    }
    *out = std::move(values);
  }

  // A duration string in [0, max].
  void DurationIn(std::string_view key, Duration max, Duration* out) {
    if (const toml::node* node = Get(key)) {
      std::optional<Duration> value = DurationValue(*node, key);
      if (!value) return;
      if (*value > max) {
        Fail(*node, key,
             "must be at most " + FormatDuration(max) + ", got \"" + FormatDuration(*value) + "\"");
        return;
      }
      *out = *value;
    }
  }
  // Any duration string; the caller checks the range.
  std::optional<Duration> DurationValue(const toml::node& node, std::string_view key) {
    if (!node.is_string()) {
      Fail(node, key,
           "must be a duration string like \"250ms\", \"6s\", \"1m\" or \"0\", got " +
               std::string(TypeName(node)));
      return std::nullopt;
    }
    Result<Duration> value = ParseDuration(node.as_string()->get());
    if (!value) {
      Fail(node, key, value.error().message);
      return std::nullopt;
    }
    return *value;
  }

  // An integer or a float in [0, 1] ("0" and "1" are TOML integers).
  void Probability(std::string_view key, double* out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    if (!node->is_number()) {
      Fail(*node, key, "must be a number in [0, 1], got " + std::string(TypeName(*node)));
      return;
    }
    const double value = node->value<double>().value_or(std::nan(""));
    if (!(value >= 0 && value <= 1)) {  // also rejects nan
      std::ostringstream got;
      got << value;
      Fail(*node, key, "must be a probability in [0, 1], got " + got.str());
      return;
    }
    *out = value;
  }

  // A string turned into T by `parse` (e.g. ParseCountingMode), whose message is kept.
  template <typename T>
  void Named(std::string_view key, Result<T> (*parse)(std::string_view), T* out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    if (!node->is_string()) {
      Fail(*node, key, "must be a string, got " + std::string(TypeName(*node)));
      return;
    }
    Result<T> value = parse(node->as_string()->get());
    if (!value) {
      Fail(*node, key, value.error().message);
      return;
    }
    *out = *value;
  }

  // The sub-table `key`, or nullptr when absent or not a table (an error).
  const toml::table* Table(std::string_view key) {
    const toml::node* node = Get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      Fail(*node, key,
           "must be a table ([" + Path(key) + "]), got " + std::string(TypeName(*node)));
      return nullptr;
    }
    return node->as_table();
  }

  // The array of tables `key` ([[key]]), or nullptr when absent or not one (an error).
  const toml::array* TableArray(std::string_view key) {
    const toml::node* node = Get(key);
    if (node == nullptr) return nullptr;
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      // An empty array counts as one: `credentials = []` is meaningful.
      if (array != nullptr && array->empty()) return array;
      Fail(*node, key,
           "must be an array of tables ([[" + Path(key) + "]]), got " +
               std::string(TypeName(*node)));
      return nullptr;
    }
    return array;
  }

  // Call after every read: reports each key of the table that no read named, with the closest
  // known key when one is close enough to be the intended spelling.
  void RejectUnknownKeys() {
    for (const auto& [key, node] : table_) {
      if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
      std::string_view closest;
      size_t closest_distance = 3;  // farther than 2 edits is another word
      for (std::string_view known : known_) {
        const size_t distance = EditDistance(key.str(), known);
        if (distance < closest_distance) {
          closest = known;
          closest_distance = distance;
        }
      }
      std::string why = "unknown key";
      if (!closest.empty()) {
        why += " (did you mean " + std::string(closest) + "?)";
      } else {
        why += " (expected one of:";
        for (size_t i = 0; i < known_.size(); ++i) {
          why += (i == 0 ? " " : ", ") + std::string(known_[i]);
        }
        why += ")";
      }
      const toml::source_region& where = key.source().begin.line > 0 ? key.source() : node.source();
      reader_.Fail(where, Path(key.str()), why);
    }
  }

 private:
  std::optional<int64_t> IntegerIn(const toml::node& node, std::string_view key, int64_t min,
                                   int64_t max) {
    if (!node.is_integer()) {
      Fail(node, key, "must be an integer, got " + std::string(TypeName(node)));
      return std::nullopt;
    }
    const int64_t value = node.as_integer()->get();
    if (value < min) {
      Fail(node, key,
           (min == 0 ? std::string("must not be negative")
                     : "must be at least " + FormatBound(min)) +
               ", got " + std::to_string(value));
      return std::nullopt;
    }
    if (value > max) {
      Fail(node, key, "must be at most " + FormatBound(max) + ", got " + std::to_string(value));
      return std::nullopt;
    }
    return value;
  }

  Reader& reader_;
  const toml::table& table_;
  std::string path_;
  std::vector<std::string_view> known_;  // the names every read asked for
};

// Reads the elements of an array of tables, each as a Section named "<path>[i]".
template <typename F>
void ForEachTable(Section& parent, std::string_view key, const toml::array& array, F read) {
  for (size_t i = 0; i < array.size(); ++i) {
    Section element(parent.reader(), *array.get(i)->as_table(),
                    parent.Path(key) + "[" + std::to_string(i) + "]");
    read(element);
    element.RejectUnknownKeys();
  }
}

void ReadServer(Section& s, ServerOptions* server) {
  s.String("address", Section::Empty::kRejected, &server->address);
  int64_t port = server->port;
  s.Integer("port", 0, 65535, &port);
  server->port = static_cast<uint16_t>(port);
  int64_t threads = server->threads;
  s.Integer("threads", 1, kMaxServerThreads, &threads);
  server->threads = static_cast<int>(threads);
  s.DurationIn("idle_timeout", kMaxDuration, &server->idle_timeout);
}

void ReadAuth(Section& s, AuthOptions* auth) {
  s.DurationIn("max_clock_skew", kMaxDuration, &auth->max_clock_skew);
  s.String("default_region", Section::Empty::kRejected, &auth->default_region);
  s.StringList("bearer_keys", &auth->bearer_keys);
  const toml::array* credentials = s.TableArray("credentials");
  if (credentials == nullptr) return;
  auth->credentials.clear();  // the file's list replaces the documented pair
  ForEachTable(s, "credentials", *credentials, [&](Section& c) {
    c.Require({"access_key_id", "secret_access_key"});
    Credential credential;
    c.String("access_key_id", Section::Empty::kRejected, &credential.access_key_id);
    c.String("secret_access_key", Section::Empty::kRejected, &credential.secret_access_key);
    const bool duplicate =
        std::any_of(auth->credentials.begin(), auth->credentials.end(), [&](const Credential& o) {
          return !o.access_key_id.empty() && o.access_key_id == credential.access_key_id;
        });
    if (duplicate) {
      c.Fail(*c.table().get("access_key_id"), "access_key_id",
             "duplicate access key id " + credential.access_key_id);
    }
    auth->credentials.push_back(std::move(credential));
  });
}

void ReadPathQuota(Section& s, PathQuota* quota) {
  s.Integer("tokens_per_minute", 1, kMaxTokens, &quota->tokens_per_minute);
  s.Integer("requests_per_minute", 0, kMaxTokens, &quota->requests_per_minute);
  s.Integer("max_concurrency", 0, kMaxTokens, &quota->max_concurrency);
  s.OptionalInteger("tokens_per_day", 0, kMaxTokens, &quota->tokens_per_day);
}

void ReadQuotas(Section& s, QuotaOptions* quotas) {
  s.Named("mode", &ParseCountingMode, &quotas->books.mode);
  // The period's rule is Validate(BooksOptions)'s; this only adds where the value was written.
  if (const toml::node* node = s.Get("period")) {
    if (std::optional<Duration> period = s.DurationValue(*node, "period")) {
      if (Status valid = Validate(BooksOptions{.period = *period}); !valid) {
        s.Fail(*node, "period",
               valid.error().message + ", got \"" + FormatDuration(*period) + "\"");
      } else {
        quotas->books.period = *period;
      }
    }
  }
  const std::pair<std::string_view, PathQuota*> paths[] = {
      {"on_demand", &quotas->on_demand},
      {"cross_region", &quotas->cross_region},
      {"global", &quotas->global},
  };
  for (const auto& [key, quota] : paths) {
    if (const toml::table* table = s.Table(key)) {
      Section path(s.reader(), *table, s.Path(key));
      ReadPathQuota(path, quota);
      path.RejectUnknownKeys();
    }
  }
  const toml::array* overrides = s.TableArray("override");
  if (overrides == nullptr) return;
  ForEachTable(s, "override", *overrides, [&](Section& o) {
    QuotaOverride entry;
    o.String("region", Section::Empty::kRejected, &entry.region);
    o.String("model", Section::Empty::kRejected, &entry.model);
    o.OptionalInteger("tokens_per_minute", 1, kMaxTokens, &entry.tokens_per_minute);
    o.OptionalInteger("requests_per_minute", 0, kMaxTokens, &entry.requests_per_minute);
    o.OptionalInteger("max_concurrency", 0, kMaxTokens, &entry.max_concurrency);
    o.OptionalInteger("tokens_per_day", 0, kMaxTokens, &entry.tokens_per_day);
    if (!o.table().contains("tokens_per_minute") && !o.table().contains("requests_per_minute") &&
        !o.table().contains("max_concurrency") && !o.table().contains("tokens_per_day")) {
      // Almost certainly a mistake, and one that would otherwise pass without a trace.
      o.reader().Fail(o.table().source(), o.path(),
                      "sets no quota (tokens_per_minute, requests_per_minute, max_concurrency "
                      "or tokens_per_day)");
    }
    quotas->overrides.push_back(std::move(entry));
  });
}

void ReadServiceQuotas(Section& s, ServiceQuotasOptions* service_quotas) {
  s.Named("increase_policy", &ParseIncreasePolicy, &service_quotas->policy);
  s.DurationIn("decide_after", kMaxDuration, &service_quotas->decide_after);
}

void ReadOutput(Section& s, OutputLengthOptions* output) {
  s.Named("distribution", &ParseDistribution, &output->distribution);
  s.Integer("mean", 1, kMaxTokens, &output->mean);
  s.Integer("stddev", 0, kMaxTokens, &output->stddev);
  s.Integer("min", 1, kMaxTokens, &output->min);
  s.Integer("max", 1, kMaxTokens, &output->max);
  if (output->min > output->max) {
    const std::string_view key = s.table().contains("max") ? "max" : "min";
    s.Fail(*s.table().get(key), key,
           "output.min (" + std::to_string(output->min) + ") must not exceed output.max (" +
               std::to_string(output->max) + ")");
  }
}

void ReadLatency(Section& s, LatencyOptions* latency) {
  s.DurationIn("time_to_first_token", kMaxDuration, &latency->time_to_first_token);
  s.DurationIn("per_output_token", kMaxDuration, &latency->per_output_token);
  s.DurationIn("jitter", kMaxDuration, &latency->jitter);
}

void ReadFaults(Section& s, FaultOptions* faults) {
  s.Probability("internal_error", &faults->internal_error);
  s.Probability("service_unavailable", &faults->service_unavailable);
  s.Probability("model_timeout", &faults->model_timeout);
  s.Probability("model_not_ready", &faults->model_not_ready);
  s.Probability("connection_reset", &faults->connection_reset);
  s.Probability("stalled_response", &faults->stalled_response);
  s.Probability("stream_throttle", &faults->stream_throttle);
  s.StringList("regions", &faults->regions);
  s.DurationIn("start_after", std::chrono::hours(24), &faults->start_after);
}

bool IsAsciiAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsProfileNameChar(char c) { return IsAsciiAlnum(c) || c == ' ' || c == '_' || c == '-'; }
bool IsRegionChar(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || c == '-'; }

// At most `max` characters, each one `allowed`.
bool Spelled(std::string_view text, size_t max, bool (*allowed)(char)) {
  return text.size() <= max && std::all_of(text.begin(), text.end(), allowed);
}

// Application profiles are read whole here; whether copy_from names something is the catalog's
// to say, so Emulator::Start checks that.
void ReadApplicationProfiles(Section& root, std::vector<ApplicationProfileOptions>* profiles) {
  constexpr std::string_view kKey = "application_profile";
  const toml::array* array = root.TableArray(kKey);
  if (array == nullptr) return;
  ForEachTable(root, kKey, *array, [&](Section& p) {
    p.Require({"id", "copy_from"});
    ApplicationProfileOptions profile;
    p.String("id", Section::Empty::kRejected, &profile.id);
    p.String("name", Section::Empty::kRejected, &profile.name);
    p.String("description", Section::Empty::kAllowed, &profile.description);
    p.String("copy_from", Section::Empty::kRejected, &profile.copy_from);
    p.String("region", Section::Empty::kRejected, &profile.region);
    // AWS's own constraints on the id (it becomes a path segment and the ARN's last part), the
    // name and the description; the region only has to look like one.
    const auto check = [&p](bool ok, std::string_view key, const std::string& why) {
      if (!ok && p.table().contains(key)) p.Fail(*p.table().get(key), key, why);
    };
    check(Spelled(profile.id, 64, IsAsciiAlnum), "id",
          "must be 1 to 64 letters and digits, got \"" + profile.id + "\"");
    check(Spelled(profile.name, 64, IsProfileNameChar), "name",
          "must be 1 to 64 letters, digits, spaces, '_' or '-', got \"" + profile.name + "\"");
    check(profile.description.size() <= 200, "description", "must be at most 200 characters");
    check(Spelled(profile.region, 64, IsRegionChar), "region",
          "must be a region name like \"us-east-1\", got \"" + profile.region + "\"");
    check(std::none_of(profiles->begin(), profiles->end(),
                       [&](const ApplicationProfileOptions& o) { return o.id == profile.id; }),
          "id", "duplicate application profile id " + profile.id);
    profiles->push_back(std::move(profile));
  });
}

template <typename Options>
void ReadTable(Section& root, std::string_view key, void (*read)(Section&, Options*),
               Options* options) {
  if (const toml::table* table = root.Table(key)) {
    Section section(root.reader(), *table, root.Path(key));
    read(section, options);
    section.RejectUnknownKeys();
  }
}

void ReadDocument(Section& root, EmulatorOptions* options) {
  int64_t seed = static_cast<int64_t>(options->seed);
  root.Integer("seed", 0, std::numeric_limits<int64_t>::max(), &seed);
  options->seed = static_cast<uint64_t>(seed);
  root.String("model_catalog", Section::Empty::kAllowed, &options->model_catalog);
  ReadTable(root, "server", &ReadServer, &options->server);
  ReadTable(root, "auth", &ReadAuth, &options->auth);
  ReadTable(root, "quotas", &ReadQuotas, &options->quotas);
  ReadTable(root, "service_quotas", &ReadServiceQuotas, &options->service_quotas);
  ReadTable(root, "output", &ReadOutput, &options->output);
  ReadTable(root, "latency", &ReadLatency, &options->latency);
  ReadTable(root, "faults", &ReadFaults, &options->faults);
  ReadApplicationProfiles(root, &options->application_profiles);
  root.RejectUnknownKeys();
}

}  // namespace

Result<EmulatorOptions> ParseEmulatorConfig(std::string_view toml_text,
                                            std::string_view source_name) {
  toml::table document;
  try {
    document = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    // Debian's toml++ is built with exceptions (it exports only toml::ex::parse), so its syntax
    // errors are caught here, at the library's edge, and become a value like every other error.
    std::string message = std::string(source_name);
    if (e.source().begin.line > 0) message += ":" + std::to_string(e.source().begin.line);
    return tl::make_unexpected(
        Error::InvalidArgument(message + ": invalid TOML: " + std::string(e.description())));
  }
  EmulatorOptions options;
  Reader reader(source_name);
  Section root(reader, document, "");
  ReadDocument(root, &options);
  if (!reader.ok()) return tl::make_unexpected(reader.TakeError());
  return options;
}

Result<EmulatorOptions> LoadEmulatorConfig(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return tl::make_unexpected(Error::Io("cannot read " + path.string() + ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::make_unexpected(
        Error::Io("cannot read " + path.string() + ": " + std::generic_category().message(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return tl::make_unexpected(Error::Io("cannot read " + path.string()));
  return ParseEmulatorConfig(text.str(), path.string());
}

}  // namespace quotaflow::emulator
