#pragma once
// The part of the `bedrock` control plane quotaflow needs: the system-defined inference profiles
// of the model catalog, GET /inference-profiles (ListInferenceProfiles) and
// GET /inference-profiles/{id} (GetInferenceProfile), each profile with its destination regions
// (bedrock-wire.md section 8). A region lists the profiles whose geography it belongs to.
//
// Thread safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "server/http_server.h"

namespace quotaflow::emulator {

// The regions a profile with geo prefix `prefix` routes to ("us" → us-east-1, us-east-2,
// us-west-2, ...). Empty for an unknown prefix.
std::vector<std::string> DestinationRegions(std::string_view prefix);
// Whether a profile with geo `prefix` may be invoked from `region` (its source regions).
bool ProfileServesRegion(std::string_view prefix, std::string_view region);

// Answers a GET whose path starts with /inference-profiles; `target` is the raw path and query.
server::ServerResponse HandleInferenceProfiles(std::string_view target, std::string_view region,
                                               const bedrock::ModelCatalog& catalog,
                                               std::string_view request_id);

}  // namespace quotaflow::emulator
