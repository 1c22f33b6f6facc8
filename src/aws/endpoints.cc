#include "aws/endpoints.h"

#include <array>
#include <optional>
#include <utility>
#include <vector>

namespace quotaflow::aws {
namespace {

constexpr std::array<ServiceInfo, 5> kServices = {{
    {Service::kBedrockRuntime, "bedrock-runtime", "bedrock", "BEDROCK_RUNTIME", "bedrock_runtime",
     true},
    {Service::kBedrock, "bedrock", "bedrock", "BEDROCK", "bedrock", true},
    {Service::kServiceQuotas, "servicequotas", "servicequotas", "SERVICE_QUOTAS", "service_quotas",
     false},
    {Service::kCloudWatch, "monitoring", "monitoring", "CLOUDWATCH", "cloudwatch", false},
    {Service::kSts, "sts", "sts", "STS", "sts", false},
}};

// A partition's region pattern, `^(p1|p2|...)-\w+-\d+$` in botocore's partitions.json, as the
// list of prefixes: matched by hand, since std::regex trips GCC 12's -Wmaybe-uninitialized at -O2.
struct PartitionRule {
  Partition partition;
  std::array<std::string_view, 9> prefixes;
};

// botocore/data/partitions.json (1.43), in its order.
constexpr std::array<PartitionRule, 8> kPartitions = {{
    {{"aws", "amazonaws.com"}, {"us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"}},
    {{"aws-cn", "amazonaws.com.cn"}, {"cn"}},
    {{"aws-eusc", "amazonaws.eu"}, {"eusc-de"}},
    {{"aws-iso", "c2s.ic.gov"}, {"us-iso"}},
    {{"aws-iso-b", "sc2s.sgov.gov"}, {"us-isob"}},
    {{"aws-iso-e", "cloud.adc-e.uk"}, {"eu-isoe"}},
    {{"aws-iso-f", "csp.hci.ic.gov"}, {"us-isof"}},
    {{"aws-us-gov", "amazonaws.com"}, {"us-gov"}},
}};

bool IsLetterOrDigit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// One DNS label as botocore's is_valid_endpoint_url allows it: 1-63 letters, digits or '-', not
// starting or ending with '-'.
bool IsHostLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (char c : label) {
    if (!IsLetterOrDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (host.back() == '.') host.remove_suffix(1);
  while (true) {
    const size_t dot = host.find('.');
    if (!IsHostLabel(host.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    host.remove_prefix(dot + 1);
  }
}

// An http:// or https:// URL with a valid host name or a bracketed IPv6 address, an optional
// port, and an optional path. Returns it without trailing '/' characters.
Result<std::string> CheckEndpointUrl(std::string_view url) {
  auto invalid = [&] {
    return tl::unexpected(Error::InvalidArgument("Invalid endpoint: " + std::string(url)));
  };
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return invalid();
  }
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) return invalid();  // no credentials in URLs
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return invalid();
    host = authority.substr(1, close - 1);
    for (char c : host) {
      if (!IsLetterOrDigit(c) && c != ':' && c != '.' && c != '%') return invalid();
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return invalid();
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (!IsHostName(host)) return invalid();
  }
  if (!port.empty() || authority.ends_with(':')) {
    if (port.empty() || port.size() > 5) return invalid();
    for (char c : port) {
      if (c < '0' || c > '9') return invalid();
    }
  }
  std::string_view trimmed = url;
  while (trimmed.ends_with('/') && trimmed.size() > url.size() - rest.size() + authority.size()) {
    trimmed.remove_suffix(1);
  }
  return std::string(trimmed);
}

// The services section's endpoint_url for `service`, if the profile names a services section.
Result<std::optional<std::string>> ServicesSectionEndpoint(const ServiceInfo& info,
                                                           const AwsConfig& config,
                                                           std::string* source) {
  auto section_name = config.profile.Get("services");
  if (!section_name) return std::nullopt;
  auto section = config.files.services.find(*section_name);
  if (section == config.files.services.end() || section->second.empty()) {
    return tl::unexpected(Error::InvalidArgument(
        "The profile is configured to use the services section but the \"" +
        std::string(*section_name) + "\" services configuration does not exist."));
  }
  auto service = section->second.subsections.find(info.config_key);
  if (service == section->second.subsections.end()) return std::nullopt;
  auto url = service->second.find("endpoint_url");
  if (url == service->second.end() || url->second.empty()) return std::nullopt;
  *source = "[services " + std::string(*section_name) + "] in " + config.files.config_file;
  return url->second;
}

}  // namespace

const ServiceInfo& GetServiceInfo(Service service) {
  for (const ServiceInfo& info : kServices) {
    if (info.service == service) return info;
  }
  return kServices[0];  // unreachable: every enumerator is in the table
}

namespace {

// `<prefix>-\w+-\d+`: the prefix, then one word of [A-Za-z0-9_] and one number, dash-separated.
bool MatchesRegionPattern(std::string_view region, std::string_view prefix) {
  if (prefix.empty() || !region.starts_with(prefix) || region.size() <= prefix.size() ||
      region[prefix.size()] != '-') {
    return false;
  }
  const std::string_view rest = region.substr(prefix.size() + 1);
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == rest.size()) return false;
  for (char c : rest.substr(0, dash)) {
    if (!IsLetterOrDigit(c) && c != '_') return false;
  }
  for (char c : rest.substr(dash + 1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Partition PartitionOf(std::string_view region) {
  for (const PartitionRule& rule : kPartitions) {
    // The pseudo-regions "aws-global", "aws-cn-global", ... belong to their partition.
    if (region == std::string(rule.partition.id) + "-global") return rule.partition;
  }
  for (const PartitionRule& rule : kPartitions) {
    for (std::string_view prefix : rule.prefixes) {
      if (MatchesRegionPattern(region, prefix)) return rule.partition;
    }
  }
  return kPartitions[0].partition;
}

Status ValidateRegion(std::string_view region) {
  if (!IsHostLabel(region)) {
    return tl::unexpected(Error::InvalidArgument("Provided region_name '" + std::string(region) +
                                                 "' doesn't match a supported format."));
  }
  return {};
}

Result<std::string> DefaultEndpointUrl(Service service, std::string_view region) {
  const ServiceInfo& info = GetServiceInfo(service);
  // STS's global endpoint: for no region, and for the "aws-global" pseudo-region (its rule set).
  if (region.empty() || (service == Service::kSts && region == "aws-global")) {
    if (service == Service::kSts) return std::string("https://sts.amazonaws.com");
    return tl::unexpected(Error::InvalidArgument("You must specify a region."));
  }
  if (auto valid = ValidateRegion(region); !valid) return tl::unexpected(valid.error());
  return "https://" + std::string(info.endpoint_prefix) + "." + std::string(region) + "." +
         std::string(PartitionOf(region).dns_suffix);
}

Result<Endpoint> ResolveEndpoint(Service service, const AwsConfig& config, const Environment& env,
                                 std::string_view endpoint_url) {
  const ServiceInfo& info = GetServiceInfo(service);
  Endpoint endpoint;
  if (config.region.empty() || (service == Service::kSts && config.region == "aws-global")) {
    if (service != Service::kSts) {
      return tl::unexpected(Error::InvalidArgument("You must specify a region."));
    }
    endpoint.signing_region = "us-east-1";
  } else {
    if (auto valid = ValidateRegion(config.region); !valid) return tl::unexpected(valid.error());
    endpoint.signing_region = config.region;
  }

  std::optional<std::string> configured;
  if (!endpoint_url.empty()) {
    configured = std::string(endpoint_url);
    endpoint.source = "--endpoint-url";
  } else if (!IsTrue(config
                         .Setting(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                                  "ignore_configured_endpoint_urls")
                         .value_or(""))) {
    const std::string service_var = "AWS_ENDPOINT_URL_" + std::string(info.env_suffix);
    if (auto url = env.GetNonEmpty(service_var)) {
      configured = std::move(url);
      endpoint.source = service_var;
    } else if (auto global = env.GetNonEmpty("AWS_ENDPOINT_URL")) {
      configured = std::move(global);
      endpoint.source = "AWS_ENDPOINT_URL";
    } else {
      auto from_services = ServicesSectionEndpoint(info, config, &endpoint.source);
      if (!from_services) return tl::unexpected(std::move(from_services.error()));
      if (*from_services) {
        configured = std::move(*from_services);
      } else if (auto profile_url = config.profile.Get("endpoint_url");
                 profile_url && !profile_url->empty()) {
        configured = std::string(*profile_url);
        endpoint.source = "endpoint_url of profile " + config.profile_name;
      }
    }
  }

  if (configured) {
    auto url = CheckEndpointUrl(*configured);
    if (!url) return tl::unexpected(std::move(url.error()));
    endpoint.url = std::move(*url);
    return endpoint;
  }
  auto url = DefaultEndpointUrl(service, config.region);
  if (!url) return tl::unexpected(std::move(url.error()));
  endpoint.url = std::move(*url);
  endpoint.source = "default";
  return endpoint;
}

}  // namespace quotaflow::aws
