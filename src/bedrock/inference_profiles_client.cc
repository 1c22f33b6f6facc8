#include "bedrock/inference_profiles_client.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "aws/uri.h"

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;
using internal::ArrayField;
using internal::StringField;

constexpr internal::AwsJsonProtocol kProtocol{.service = aws::Service::kBedrock,
                                              .target_prefix = "",
                                              .content_type = "",
                                              .query_mode = false};

constexpr std::string_view kOperation = "GetInferenceProfile";

// The parts of "arn:<partition>:<service>:<region>:<account>:<resource>"; nullopt if it has fewer.
struct Arn {
  std::string_view region;
  std::string_view resource;
};

std::optional<Arn> SplitArn(std::string_view arn) {
  std::array<std::string_view, 5> fields;
  for (std::string_view& field : fields) {
    const size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    field = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  if (fields[0] != "arn") return std::nullopt;
  return Arn{fields[3], arn};
}

// Whether a system-defined profile of geo `prefix` routes to `region` (bedrock-wire.md section
// 8). Written here rather than shared with the emulator's copy on purpose: a bug common to client
// and server would go unseen (ARCHITECTURE.md).
bool GeoCovers(std::string_view prefix, std::string_view region) {
  if (prefix == "global") return true;
  if (prefix == "us") return region.starts_with("us-") && !region.starts_with("us-gov-");
  if (prefix == "us-gov") return region.starts_with("us-gov-");
  if (prefix == "eu") return region.starts_with("eu-");
  if (prefix == "apac") return region.starts_with("ap-");
  if (prefix == "jp") return region == "ap-northeast-1" || region == "ap-northeast-3";
  if (prefix == "au") return region == "ap-southeast-2" || region == "ap-southeast-4";
  return false;
}

// Most specific first: a jp profile's regions are apac regions too, and every region is global.
constexpr std::array<std::string_view, 7> kGeosBySpecificity = {"jp", "au",   "us-gov", "us",
                                                                "eu", "apac", "global"};

}  // namespace

InferenceProfile ParseInferenceProfile(const json::object& profile) {
  InferenceProfile p;
  p.id = StringField(profile, "inferenceProfileId");
  p.arn = StringField(profile, "inferenceProfileArn");
  p.name = StringField(profile, "inferenceProfileName");
  p.type = StringField(profile, "type");
  p.status = StringField(profile, "status");
  if (const json::array* models = ArrayField(profile, "models")) {
    for (const json::value& model : *models) {
      if (const json::object* m = model.if_object()) {
        std::string arn = StringField(*m, "modelArn");
        if (!arn.empty()) p.model_arns.push_back(std::move(arn));
      }
    }
  }
  return p;
}

Result<std::unique_ptr<InferenceProfilesClient>> InferenceProfilesClient::Create(
    aws::HttpClient& http, ControlPlaneOptions options, const Clock& clock) {
  Result<std::unique_ptr<internal::AwsJsonClient>> client =
      internal::AwsJsonClient::Create(http, clock, kProtocol, std::move(options));
  if (!client) return tl::unexpected(std::move(client.error()));
  return std::unique_ptr<InferenceProfilesClient>(new InferenceProfilesClient(std::move(*client)));
}

InferenceProfilesClient::InferenceProfilesClient(std::unique_ptr<internal::AwsJsonClient> client)
    : client_(std::move(client)) {}

InferenceProfilesClient::~InferenceProfilesClient() = default;

const ControlPlaneOptions& InferenceProfilesClient::options() const { return client_->options(); }

Result<InferenceProfile> InferenceProfilesClient::GetInferenceProfile(std::string_view id_or_arn) {
  if (id_or_arn.empty()) {
    return tl::unexpected(Error::InvalidArgument("GetInferenceProfile needs a profile id or ARN"));
  }
  // botocore's percent_encode of a non-greedy path label: only A-Z a-z 0-9 - . _ ~ stay.
  Result<json::object> response = client_->Get(
      kOperation, "/inference-profiles/" + aws::UriEncode(id_or_arn, /*encode_slash=*/true));
  if (!response) {
    Error error = std::move(response.error());
    if (error.code == ErrorCode::kNotFound) {
      error.message = "no inference profile '" + std::string(id_or_arn) + "' in " +
                      client_->options().region + ": " + error.message;
    }
    return tl::unexpected(std::move(error));
  }
  InferenceProfile profile = ParseInferenceProfile(*response);
  if (profile.id.empty() || profile.arn.empty()) {
    return tl::unexpected(Error::Protocol(std::string(kOperation) + " response for '" +
                                          std::string(id_or_arn) +
                                          "' has no inferenceProfileId or inferenceProfileArn"));
  }
  return profile;
}

std::vector<std::string> DestinationRegions(const InferenceProfile& profile) {
  std::vector<std::string> regions;
  for (const std::string& arn : profile.model_arns) {
    const std::optional<Arn> parts = SplitArn(arn);
    if (!parts) continue;
    if (std::find(regions.begin(), regions.end(), parts->region) == regions.end()) {
      regions.emplace_back(parts->region);
    }
  }
  return regions;
}

Result<std::string> ModelIdForProfile(const InferenceProfile& profile,
                                      const ModelCatalog& catalog) {
  const std::string what = "inference profile " + (profile.arn.empty() ? profile.id : profile.arn);
  if (profile.type == "SYSTEM_DEFINED") {
    Result<ResolvedModel> resolved = catalog.Resolve(profile.id);
    if (!resolved) {
      return tl::unexpected(Error::NotFound(what + ": " + resolved.error().message));
    }
    return profile.id;
  }
  if (profile.model_arns.empty()) {
    return tl::unexpected(Error::Protocol(what + " lists no models"));
  }
  // The model: the one in the profile's own region, else the first listed.
  const std::optional<Arn> own = SplitArn(profile.arn);
  const std::string* chosen = &profile.model_arns.front();
  for (const std::string& arn : profile.model_arns) {
    const std::optional<Arn> parts = SplitArn(arn);
    if (own && parts && parts->region == own->region) {
      chosen = &arn;
      break;
    }
  }
  constexpr std::string_view kFoundationModel = "foundation-model/";
  const std::optional<Arn> model_arn = SplitArn(*chosen);
  if (!model_arn || !model_arn->resource.starts_with(kFoundationModel)) {
    return tl::unexpected(
        Error::NotFound(what + " serves '" + *chosen + "', which is not a foundation-model ARN"));
  }
  const std::string_view base_id = model_arn->resource.substr(kFoundationModel.size());
  Result<ResolvedModel> resolved = catalog.Resolve(base_id);
  if (!resolved || !resolved->profile.empty()) {
    return tl::unexpected(Error::NotFound(what + " serves " + std::string(base_id) +
                                          ", which is not in the model catalog"));
  }
  const ModelInfo& model = *resolved->model;

  // Every region the profile routes this model to.
  std::vector<std::string_view> regions;
  for (const std::string& arn : profile.model_arns) {
    const std::optional<Arn> parts = SplitArn(arn);
    if (parts && parts->resource == model_arn->resource) regions.push_back(parts->region);
  }
  if (regions.size() == 1 && model.on_demand) return model.id;  // a copy of the base model
  for (std::string_view geo : kGeosBySpecificity) {
    if (!model.HasProfile(geo)) continue;
    if (std::all_of(regions.begin(), regions.end(),
                    [geo](std::string_view region) { return GeoCovers(geo, region); })) {
      return model.ProfileId(geo);
    }
  }
  std::string listed;
  for (std::string_view region : regions) {
    listed += (listed.empty() ? "" : ", ") + std::string(region);
  }
  return tl::unexpected(Error::NotFound(what + " routes " + model.id + " to " + listed +
                                        ", which no inference profile of the model in the "
                                        "catalog covers"));
}

}  // namespace quotaflow::bedrock
