#pragma once
// The part of the `bedrock` control plane quotaflow needs: the system-defined inference profiles
// of the model catalog and the application profiles of the config, GET /inference-profiles
// (ListInferenceProfiles) and GET /inference-profiles/{id or ARN} (GetInferenceProfile), each
// profile with its destination regions (bedrock-wire.md section 8). A region lists the system
// profiles whose geography it belongs to, and the application profiles created in it.
//
// Thread safety: pure functions; ApplicationProfiles is immutable once created.

#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "emulator/options.h"
#include "quotaflow/error.h"
#include "server/http_server.h"

namespace quotaflow::emulator {

// An application inference profile of the config, resolved against the model catalog.
struct ApplicationProfile {
  std::string id;
  std::string name;
  std::string description;
  std::string region;  // where it exists (the ARN's region)
  std::string arn;     // arn:aws:bedrock:<region>:<account>:application-inference-profile/<id>
  // What it copies. Requests through the profile are this model on this path: validated and
  // charged as the source is, under the quota key "<region>/<source.QuotaId()>".
  bedrock::ResolvedModel source;
  // Where its models[] are: the source profile's destination regions, or `region` for a base
  // model.
  std::vector<std::string> model_regions;
};

// The config's application profiles. Immutable; safe from any thread.
class ApplicationProfiles {
 public:
  ApplicationProfiles() = default;  // none

  // Resolves each profile's copy_from against `catalog` (which must outlive the result); an empty
  // region becomes `default_region`. kInvalidArgument naming the profile when copy_from is not a
  // model or system-defined profile of the catalog, names a profile that does not serve the
  // profile's region, or names a base model Bedrock serves only through profiles (copy one of its
  // profiles instead, as on AWS).
  static Result<ApplicationProfiles> Create(const std::vector<ApplicationProfileOptions>& options,
                                            std::string_view default_region,
                                            const bedrock::ModelCatalog& catalog);

  // The profile `id_or_arn` names (its id or its ARN) in `region`, or nullptr: a profile exists
  // only in its own region.
  const ApplicationProfile* Find(std::string_view id_or_arn, std::string_view region) const;

  const std::vector<ApplicationProfile>& profiles() const { return profiles_; }

 private:
  std::vector<ApplicationProfile> profiles_;
};

// The regions a profile with geo prefix `prefix` routes to ("us" → us-east-1, us-east-2,
// us-west-2, ...). Empty for an unknown prefix.
std::vector<std::string> DestinationRegions(std::string_view prefix);
// Whether a profile with geo `prefix` may be invoked from `region` (its source regions).
bool ProfileServesRegion(std::string_view prefix, std::string_view region);

// Answers a GET whose path starts with /inference-profiles; `target` is the raw path and query.
server::ServerResponse HandleInferenceProfiles(std::string_view target, std::string_view region,
                                               const bedrock::ModelCatalog& catalog,
                                               const ApplicationProfiles& applications,
                                               std::string_view request_id);

}  // namespace quotaflow::emulator
