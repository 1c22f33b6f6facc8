#include "emulator/inference_profiles.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "aws/uri.h"
#include "emulator/options.h"
#include "emulator/wire.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;

// A fixed creation date keeps responses deterministic.
constexpr char kCreatedAt[] = "2024-08-27T00:00:00Z";

std::string GeoName(std::string_view prefix) {
  if (prefix == "global") return "Global";
  if (prefix == "apac") return "APAC";
  if (prefix == "us-gov") return "US-GOV";
  std::string name(prefix);
  for (char& c : name) c = static_cast<char>(c - 'a' + 'A');
  return name;
}

json::object Profile(const bedrock::ModelInfo& model, std::string_view prefix,
                     std::string_view region) {
  const std::string id = model.ProfileId(prefix);
  json::object p;
  p["inferenceProfileName"] = GeoName(prefix) + " " + model.name;
  p["description"] =
      "Routes requests to " + model.name + " in " +
      (prefix == "global" ? std::string("all commercial regions") : GeoName(prefix) + " regions") +
      ".";
  p["createdAt"] = kCreatedAt;
  p["updatedAt"] = kCreatedAt;
  p["inferenceProfileArn"] = "arn:aws:bedrock:" + std::string(region) + ":" + kDefaultAccountId +
                             ":inference-profile/" + id;
  json::array models;
  for (const std::string& destination : DestinationRegions(prefix)) {
    models.push_back(json::object{
        {"modelArn", "arn:aws:bedrock:" + destination + "::foundation-model/" + model.id}});
  }
  p["models"] = std::move(models);
  p["inferenceProfileId"] = id;
  p["status"] = "ACTIVE";
  p["type"] = "SYSTEM_DEFINED";
  return p;
}

std::string ApplicationProfileArn(std::string_view region, std::string_view id) {
  return "arn:aws:bedrock:" + std::string(region) + ":" + kDefaultAccountId +
         ":application-inference-profile/" + std::string(id);
}

json::object ApplicationProfileJson(const ApplicationProfile& a) {
  json::object p;
  p["inferenceProfileName"] = a.name;
  if (!a.description.empty()) p["description"] = a.description;
  p["createdAt"] = kCreatedAt;
  p["updatedAt"] = kCreatedAt;
  p["inferenceProfileArn"] = a.arn;
  json::array models;
  for (const std::string& destination : a.model_regions) {
    models.push_back(json::object{{"modelArn", "arn:aws:bedrock:" + destination +
                                                   "::foundation-model/" + a.source.model->id}});
  }
  p["models"] = std::move(models);
  p["inferenceProfileId"] = a.id;
  p["status"] = "ACTIVE";
  p["type"] = "APPLICATION";
  return p;
}

std::string QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? "" : aws::UriDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

std::vector<std::string> DestinationRegions(std::string_view prefix) {
  if (prefix == "us") return {"us-east-1", "us-east-2", "us-west-2"};
  if (prefix == "us-gov") return {"us-gov-east-1", "us-gov-west-1"};
  if (prefix == "eu") return {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"};
  if (prefix == "apac") {
    return {"ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2"};
  }
  if (prefix == "jp") return {"ap-northeast-1", "ap-northeast-3"};
  if (prefix == "au") return {"ap-southeast-2", "ap-southeast-4"};
  if (prefix == "global") {
    return {"us-east-1", "us-east-2",      "us-west-2",      "eu-central-1", "eu-west-1",
            "eu-west-3", "ap-northeast-1", "ap-southeast-2", "sa-east-1",    "ca-central-1"};
  }
  return {};
}

bool ProfileServesRegion(std::string_view prefix, std::string_view region) {
  if (prefix == "global") return true;
  if (prefix == "us") return region.starts_with("us-") && !region.starts_with("us-gov-");
  if (prefix == "us-gov") return region.starts_with("us-gov-");
  if (prefix == "eu") return region.starts_with("eu-");
  if (prefix == "apac") return region.starts_with("ap-");
  if (prefix == "jp") return region == "ap-northeast-1" || region == "ap-northeast-3";
  if (prefix == "au") return region == "ap-southeast-2" || region == "ap-southeast-4";
  return false;
}

Result<ApplicationProfiles> ApplicationProfiles::Create(
    const std::vector<ApplicationProfileOptions>& options, std::string_view default_region,
    const bedrock::ModelCatalog& catalog) {
  ApplicationProfiles result;
  for (const ApplicationProfileOptions& o : options) {
    const std::string where = "application_profile " + o.id + ": copy_from '" + o.copy_from + "'";
    if (o.id.empty()) {
      return tl::make_unexpected(Error::InvalidArgument("an application_profile has no id"));
    }
    // A config file cannot repeat an id (config.cc rejects it); options built in code might.
    if (std::any_of(result.profiles_.begin(), result.profiles_.end(),
                    [&](const ApplicationProfile& p) { return p.id == o.id; })) {
      return tl::make_unexpected(
          Error::InvalidArgument("duplicate application profile id " + o.id));
    }
    ApplicationProfile p;
    p.id = o.id;
    p.name = o.name.empty() ? o.id : o.name;
    p.description = o.description;
    p.region = o.region.empty() ? std::string(default_region) : o.region;
    p.arn = ApplicationProfileArn(p.region, p.id);
    Result<bedrock::ResolvedModel> source = catalog.Resolve(o.copy_from);
    if (!source) {
      return tl::make_unexpected(Error::InvalidArgument(
          where + ": not a model or system-defined inference profile of the catalog (" +
          source.error().message + ")"));
    }
    if (!source->profile.empty() && !ProfileServesRegion(source->profile, p.region)) {
      return tl::make_unexpected(Error::InvalidArgument(
          where + ": that profile is not available in " + p.region + ", the profile's region"));
    }
    if (!source->OnDemandAllowed()) {
      std::string copies;
      for (const std::string& prefix : source->model->profiles) {
        if (!ProfileServesRegion(prefix, p.region)) continue;
        copies += (copies.empty() ? "" : ", ") + source->model->ProfileId(prefix);
      }
      return tl::make_unexpected(Error::InvalidArgument(
          where + ": Bedrock serves this model only through inference profiles; copy one" +
          (copies.empty() ? std::string(" (none serves ") + p.region + ")" : ": " + copies)));
    }
    p.model_regions = source->profile.empty() ? std::vector<std::string>{p.region}
                                              : DestinationRegions(source->profile);
    p.source = *source;
    result.profiles_.push_back(std::move(p));
  }
  return result;
}

const ApplicationProfile* ApplicationProfiles::Find(std::string_view id_or_arn,
                                                    std::string_view region) const {
  for (const ApplicationProfile& p : profiles_) {
    if (p.region == region && (p.id == id_or_arn || p.arn == id_or_arn)) return &p;
  }
  return nullptr;
}

server::ServerResponse HandleInferenceProfiles(std::string_view target, std::string_view region,
                                               const bedrock::ModelCatalog& catalog,
                                               const ApplicationProfiles& applications,
                                               std::string_view request_id) {
  std::string_view path = target;
  std::string_view query;
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  constexpr std::string_view kBase = "/inference-profiles";
  std::string_view rest = path.substr(kBase.size());
  if (rest.size() > 1 && rest.front() == '/') {  // GetInferenceProfile
    const std::string id = aws::UriDecode(rest.substr(1));
    if (const ApplicationProfile* application = applications.Find(id, region)) {
      return JsonResponse(json::serialize(ApplicationProfileJson(*application)), request_id);
    }
    const bedrock::ModelInfo* model = nullptr;
    std::string_view prefix;
    std::string_view bare = id;
    if (const size_t slash = bare.rfind('/'); slash != std::string_view::npos) {
      // An ARN: only a system-defined profile's is looked up by its id.
      bare = bare.substr(0, slash).ends_with(":inference-profile") ? bare.substr(slash + 1)
                                                                   : std::string_view();
    }
    if (const size_t dot = bare.find('.'); dot != std::string_view::npos) {
      prefix = bare.substr(0, dot);
      model = catalog.Find(bare.substr(dot + 1));
    }
    if (model == nullptr || !model->HasProfile(prefix) || !ProfileServesRegion(prefix, region)) {
      return RestJsonError(404, "ResourceNotFoundException",
                           "Inference profile " + id + " does not exist.", request_id);
    }
    return JsonResponse(json::serialize(Profile(*model, prefix, region)), request_id);
  }
  if (!rest.empty() && rest != "/") {
    return RestJsonError(404, "UnknownOperationException", "", request_id);
  }
  const std::string type = QueryParam(query, "type");
  if (!type.empty() && type != "SYSTEM_DEFINED" && type != "APPLICATION") {
    return RestJsonError(400, "ValidationException",
                         "1 validation error detected: Value '" + type +
                             "' at 'typeEquals' failed to satisfy constraint: Member must satisfy "
                             "enum value set: [SYSTEM_DEFINED, APPLICATION]",
                         request_id);
  }
  size_t max_results = 1000;
  if (const std::string max = QueryParam(query, "maxResults"); !max.empty()) {
    const auto [end, ec] = std::from_chars(max.data(), max.data() + max.size(), max_results);
    if (ec != std::errc() || end != max.data() + max.size() || max_results < 1 ||
        max_results > 1000) {
      return RestJsonError(400, "ValidationException",
                           "1 validation error detected: Value '" + max +
                               "' at 'maxResults' failed to satisfy constraint: Member must have "
                               "value between 1 and 1000",
                           request_id);
    }
  }
  size_t start = 0;
  if (const std::string token = QueryParam(query, "nextToken"); !token.empty()) {
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), start);
    if (ec != std::errc() || end != token.data() + token.size()) {
      return RestJsonError(400, "ValidationException", "The pagination token is invalid.",
                           request_id);
    }
  }
  // One list, system-defined profiles first, then the region's application profiles; a page
  // token is the position in it.
  json::array summaries;
  size_t index = 0;
  std::string next;
  const auto take = [&](const auto& make_profile) {
    if (!next.empty() || index++ < start) return;
    if (summaries.size() == max_results) {
      next = std::to_string(index - 1);
      return;
    }
    summaries.push_back(make_profile());
  };
  if (type != "APPLICATION") {
    for (const bedrock::ModelInfo& model : catalog.models()) {
      for (const std::string& prefix : model.profiles) {
        if (ProfileServesRegion(prefix, region)) {
          take([&] { return Profile(model, prefix, region); });
        }
      }
    }
  }
  if (type != "SYSTEM_DEFINED") {
    for (const ApplicationProfile& application : applications.profiles()) {
      if (application.region == region) {
        take([&] { return ApplicationProfileJson(application); });
      }
    }
  }
  json::object body;
  body["inferenceProfileSummaries"] = std::move(summaries);
  if (!next.empty()) body["nextToken"] = next;
  return JsonResponse(json::serialize(body), request_id);
}

}  // namespace quotaflow::emulator
