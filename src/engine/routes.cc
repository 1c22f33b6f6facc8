#include "quotaflow/routes.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "quotaflow/scheduler.h"

namespace quotaflow {
namespace {

// Reads one table's keys, remembering the ones it knows so that a typo is an error.
class Table {
 public:
  Table(const toml::table& table, std::string_view source, std::string path)
      : table_(table), source_(source), path_(std::move(path)) {}

  std::optional<Error> error() const { return error_; }

  void String(std::string_view key, std::string* out, bool required = false) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (required) Fail(table_, key, "is required");
      return;
    }
    if (auto v = node->value<std::string>()) {
      *out = *v;
    } else {
      Fail(*node, key, "must be a string");
    }
  }

  void Number(std::string_view key, double min, double* out) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    auto v = node->value<double>();
    if (!v || !(*v >= min)) {
      Fail(*node, key, fmt::format("must be a number >= {}", min));
      return;
    }
    *out = *v;
  }

  void Count(std::string_view key, int64_t* out) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    auto v = node->value<int64_t>();
    if (!v || *v < 0) {
      Fail(*node, key, "must be an integer >= 0");
      return;
    }
    *out = *v;
  }

  void Strings(std::string_view key, std::vector<std::string>* out) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, key, "must be an array of strings");
      return;
    }
    out->clear();
    for (const toml::node& element : *array) {
      auto v = element.value<std::string>();
      if (!v) {
        Fail(element, key, "must be an array of strings");
        return;
      }
      out->push_back(*v);
    }
  }

  const toml::array* Tables(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      Fail(*node, key, fmt::format("must be tables: [[{}.{}]]", path_, key));
      return nullptr;
    }
    return array;
  }

  const toml::table* SubTable(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      Fail(*node, key, "must be a table");
      return nullptr;
    }
    return node->as_table();
  }

  void RejectUnknownKeys() {
    for (const auto& [key, node] : table_) {
      if (!known_.contains(std::string(key.str()))) Fail(node, key.str(), "unknown key");
    }
  }

  void Fail(const toml::node& node, std::string_view key, std::string_view why) {
    if (error_) return;
    error_ =
        Error::InvalidArgument(fmt::format("{}:{}: {}{}{}: {}", source_, node.source().begin.line,
                                           path_, path_.empty() ? "" : ".", key, why));
  }

 private:
  const toml::table& table_;
  std::string_view source_;
  std::string path_;
  std::set<std::string> known_;
  std::optional<Error> error_;
};

Result<int> PriorityByName(std::string_view name) {
  if (name == "high") return kPriorityHigh;
  if (name == "normal") return kPriorityNormal;
  if (name == "low") return kPriorityLow;
  return tl::unexpected(
      Error::InvalidArgument(fmt::format("priority '{}' is not high, normal or low", name)));
}

}  // namespace

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  // Greedy with backtracking to the last '*': linear for the short patterns used here.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool ResidencyAllows(const ResidencyRule& rule, const std::vector<std::string>& destinations) {
  if (destinations.empty()) return false;
  for (const std::string& destination : destinations) {
    // A destination pattern ("eu-*") is covered when a rule pattern matches it as text: "eu-*"
    // covers "eu-*" and "eu-west-1"; nothing but "*" covers "*".
    bool covered = false;
    for (const std::string& allowed : rule.regions) {
      covered = covered || WildcardMatch(allowed, destination);
    }
    if (!covered) return false;
  }
  return true;
}

std::vector<std::string> ImpliedDestinations(std::string_view model_id, std::string_view region) {
  // An ARN names its region and, for an inference profile, the profile id after the last '/'.
  std::string_view id = model_id.substr(model_id.find_last_of('/') + 1);
  const size_t dot = id.find('.');
  const std::string_view prefix = dot == std::string_view::npos ? "" : id.substr(0, dot);
  if (prefix == "global") return {"*"};
  if (prefix == "us") return {"us-*"};
  if (prefix == "us-gov") return {"us-gov-*"};
  if (prefix == "eu") return {"eu-*"};
  if (prefix == "apac") return {"ap-*"};
  if (prefix == "jp") return {"ap-northeast-1", "ap-northeast-3"};
  if (prefix == "au") return {"ap-southeast-2", "ap-southeast-4"};
  return {std::string(region)};
}

Result<RouteConfig> ParseRouteConfig(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {  // toml++ reports syntax errors only as exceptions in this build (TOML_EXCEPTIONS=1)
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return tl::unexpected(Error::InvalidArgument(
        fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description())));
  }
  Table top(root, source_name, "");
  RouteConfig config;
  if (const toml::array* routes = top.Tables("route")) {
    for (const toml::node& node : *routes) {
      Table r(*node.as_table(), source_name, "route");
      Route route;
      r.String("name", &route.name, /*required=*/true);
      r.String("fallback", &route.fallback);
      std::vector<std::string> fallback_for;
      r.Strings("fallback_for", &fallback_for);
      for (const std::string& name : fallback_for) {
        auto priority = PriorityByName(name);
        if (!priority) {
          r.Fail(node, "fallback_for", priority.error().message);
        } else {
          route.fallback_priorities.push_back(*priority);
        }
      }
      if (const toml::array* targets = r.Tables("target")) {
        for (const toml::node& t_node : *targets) {
          Table t(*t_node.as_table(), source_name, "route.target");
          RouteTarget target;
          t.String("region", &target.region, /*required=*/true);
          t.String("model", &target.model_id, /*required=*/true);
          t.Number("cost", 0, &target.cost);
          t.Number("weight", 0, &target.weight);
          t.Count("tpm", &target.tokens_per_minute);
          t.Count("rpm", &target.requests_per_minute);
          t.Count("concurrency", &target.max_concurrency);
          t.Strings("classes", &target.classes);
          t.String("endpoint", &target.endpoint);
          t.RejectUnknownKeys();
          if (auto e = t.error()) return tl::unexpected(*e);
          route.targets.push_back(std::move(target));
        }
      }
      if (route.targets.empty() && !r.error()) r.Fail(node, "target", "a route needs a target");
      r.RejectUnknownKeys();
      if (auto e = r.error()) return tl::unexpected(*e);
      if (config.routes.contains(route.name)) {
        return tl::unexpected(Error::InvalidArgument(
            fmt::format("{}: route '{}' is defined twice", source_name, route.name)));
      }
      config.routes.emplace(route.name, std::move(route));
    }
  }
  if (const toml::table* classes = top.SubTable("class")) {
    for (const auto& [name, node] : *classes) {
      if (!node.is_table()) {
        top.Fail(node, "class", "each class must be a table: [class.NAME]");
        break;
      }
      Table c(*node.as_table(), source_name, "class." + std::string(name.str()));
      ResidencyRule rule;
      c.Strings("regions", &rule.regions);
      c.RejectUnknownKeys();
      if (auto e = c.error()) return tl::unexpected(*e);
      config.classes.emplace(std::string(name.str()), std::move(rule));
    }
  }
  top.RejectUnknownKeys();
  if (auto e = top.error()) return tl::unexpected(*e);
  // Fallbacks name routes, and a chain ends.
  for (const auto& [name, route] : config.routes) {
    std::set<std::string> seen = {name};
    std::string next = route.fallback;
    while (!next.empty()) {
      auto it = config.routes.find(next);
      if (it == config.routes.end()) {
        return tl::unexpected(Error::InvalidArgument(fmt::format(
            "{}: route '{}' falls back to '{}', which is not a route", source_name, name, next)));
      }
      if (!seen.insert(next).second) {
        return tl::unexpected(Error::InvalidArgument(fmt::format(
            "{}: route '{}' has a fallback loop through '{}'", source_name, name, next)));
      }
      next = it->second.fallback;
    }
  }
  return config;
}

Result<RouteConfig> LoadRouteConfig(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::unexpected(Error::Io(fmt::format("cannot read route config {}", path.string())));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseRouteConfig(text.str(), path.string());
}

}  // namespace quotaflow
