#pragma once
// Routes: one logical model name served by several targets (regions, inference profiles, models),
// each with quotas of its own, so a workload can use more than one quota at once.
//
//   [[route]]
//   name = "contracts"                    # what requests name as their model
//   fallback = "contracts-small"          # tried when the deadline cannot be met here
//   fallback_for = ["low"]                # priority classes sent straight to the fallback
//
//   [[route.target]]
//   region = "eu-west-1"
//   model = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"   # a model id or inference profile
//   cost = 1.0          # placement ties: lower cost first,
//   weight = 1.0        #   then higher weight
//   tpm = 200_000       # optional limits; else discovered for the target's region
//   rpm = 0
//   concurrency = 0
//   classes = ["*"]     # request classes allowed here (default every class)
//   endpoint = ""       # optional: another bedrock-runtime URL for this target
//
//   [class.eu-only]     # a residency rule: requests of this class may only reach these regions
//   regions = ["eu-*"]
//
// A residency rule is checked against every region a target can send a request to: the target's
// region for a model id; an inference profile's destination regions (GetInferenceProfile when the
// client has the control plane, else what the profile's geography implies: "eu." → eu-*,
// "global." → any region). A target that could leave the rule's regions is never used for the
// class.
//
// Thread safety: plain values.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow {

struct RouteTarget {
  std::string region;
  std::string model_id;
  double cost = 1.0;
  double weight = 1.0;
  int64_t tokens_per_minute = 0;  // 0 = discover
  int64_t requests_per_minute = 0;
  int64_t max_concurrency = 0;
  std::vector<std::string> classes = {"*"};
  std::string endpoint;  // empty = the client's endpoint for that region

  // "eu-west-1/eu.anthropic...": how results and statistics name the target.
  std::string Key() const { return region + "/" + model_id; }
};

struct Route {
  std::string name;
  std::vector<RouteTarget> targets;
  std::string fallback;                  // a route name; empty = none
  std::vector<int> fallback_priorities;  // priorities sent straight to the fallback
};

struct ResidencyRule {
  std::vector<std::string> regions;  // glob patterns with '*': "eu-*", "us-east-1"
};

struct RouteConfig {
  std::map<std::string, Route, std::less<>> routes;
  std::map<std::string, ResidencyRule, std::less<>> classes;
};

// Parses the TOML above; kInvalidArgument naming the file, line and key at fault (unknown keys,
// a route without targets, a fallback that names no route or loops, an unknown priority name).
Result<RouteConfig> ParseRouteConfig(std::string_view toml, std::string_view source_name);
Result<RouteConfig> LoadRouteConfig(const std::filesystem::path& path);

// Whether `text` matches `pattern`, where '*' matches any run of characters.
bool WildcardMatch(std::string_view pattern, std::string_view text);

// Whether a request of a class with `rule` may reach every one of `destinations` (region names
// or patterns such as "eu-*" for "any eu region", "*" for any region).
bool ResidencyAllows(const ResidencyRule& rule, const std::vector<std::string>& destinations);

// The regions a system-defined profile's geography implies ("eu" → {"eu-*"}, "global" → {"*"}),
// or {region} for a model id without a profile prefix.
std::vector<std::string> ImpliedDestinations(std::string_view model_id, std::string_view region);

}  // namespace quotaflow
