#pragma once
// The Bedrock model catalog: what quotaflow must know about a model to reserve and settle its
// quota the way Bedrock does (context window, output maximum, burndown), how to speak to it (body
// family), where it may be invoked (bare id on demand, inference profiles) and what it costs.
//
// The data lives in data/models.json, shared with the emulator. A copy is embedded at build time
// (Default()); Load() reads a newer or edited file at run time instead.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quotaflow/error.h"
#include "quotaflow/token_estimator.h"

namespace quotaflow::bedrock {

// "anthropic", "amazon-nova", "amazon-titan", "meta-llama", "mistral", "cohere", "ai21", "other":
// the names data/models.json uses.
std::string_view ModelFamilyName(ModelFamily family);
std::optional<ModelFamily> ParseModelFamily(std::string_view name);

// The geo prefixes of system-defined inference profiles (bedrock-wire.md section 8): "us", "eu",
// "apac", "jp", "au", "us-gov", "global".
bool IsProfilePrefix(std::string_view prefix);

struct ModelInfo {
  std::string id;    // base model id, "anthropic.claude-3-7-sonnet-20250219-v1:0"
  std::string name;  // "Claude 3.7 Sonnet"
  ModelFamily family = ModelFamily::kOther;  // the InvokeModel body it speaks
  int64_t context_window = 0;
  int64_t max_output_tokens = 0;
  // Reserved against TPM when a request sets no max_tokens (Bedrock reserves the maximum).
  int64_t default_output_tokens = 0;
  int64_t output_burndown = 1;  // output tokens count this many times at settlement
  // Whether the bare id may be invoked on demand. Newer Claude models require a profile.
  bool on_demand = true;
  // Whether CountTokens counts for it (by its bare id; never by a profile id). Bedrock answers
  // ValidationException for the rest, and a client then estimates.
  bool count_tokens = false;
  std::vector<std::string> profiles;  // geo prefixes with a system-defined profile
  // Indicative USD list prices per 1,000 tokens (see data/models.json for their source).
  double price_per_1k_input = 0;
  double price_per_1k_output = 0;

  bool HasProfile(std::string_view prefix) const;
  // "<prefix>.<id>". REQUIRES: HasProfile(prefix).
  std::string ProfileId(std::string_view prefix) const;
};

// A model id as a request names it, resolved against the catalog.
struct ResolvedModel {
  const ModelInfo* model = nullptr;  // never null in a resolved value; points into the catalog
  std::string profile;               // the geo prefix when named through a profile, else empty

  // Whether Bedrock serves this id on demand: a profile always, the bare id only if the model
  // allows it (otherwise Bedrock answers 400 ValidationException "...isn't supported...").
  bool OnDemandAllowed() const { return !profile.empty() || model->on_demand; }
  // The id Bedrock keeps quotas under: the profile id, or the base id.
  std::string QuotaId() const { return profile.empty() ? model->id : model->ProfileId(profile); }
};

// Immutable once built. Thread safety: const methods are safe from any thread.
class ModelCatalog {
 public:
  // Parses the data/models.json format. kInvalidArgument naming the entry and field at fault:
  // missing or mistyped fields, duplicate ids, an unknown family or profile prefix, limits that
  // are not positive, a default output above the maximum, a burndown below 1.
  static Result<ModelCatalog> Parse(std::string_view text);
  // Reads and parses a file: kIo if it cannot be read.
  static Result<ModelCatalog> Load(const std::filesystem::path& path);
  // The repository's data/models.json as it was at build time. Parsed on first use.
  static const ModelCatalog& Default();

  // Resolves a base id ("amazon.nova-lite-v1:0"), a profile id ("us.amazon.nova-lite-v1:0",
  // "global.anthropic..."), or an ARN naming either (".../foundation-model/<id>",
  // ".../inference-profile/<id>"). kNotFound for an unknown model, a profile prefix the model does
  // not have, or an ARN the catalog cannot resolve (application inference profiles, provisioned
  // or custom models: only the control plane knows what they point to).
  Result<ResolvedModel> Resolve(std::string_view model_id) const;
  // The model `model_id` names (as Resolve), or nullptr.
  const ModelInfo* Find(std::string_view model_id) const;

  const std::vector<ModelInfo>& models() const { return models_; }

 private:
  std::vector<ModelInfo> models_;
  std::unordered_map<std::string, size_t> index_;  // base id -> models_ position
};

// The output tokens Bedrock reserves at request start: the request's max_tokens, or the model's
// default (its maximum) when the request sets none.
inline int64_t ReservedOutputTokens(const ModelInfo& model, std::optional<int64_t> max_tokens) {
  return max_tokens.value_or(model.default_output_tokens);
}

// The JSON text of data/models.json embedded at build time (models_embedded.cc, generated).
std::string_view EmbeddedModelCatalogJson();

}  // namespace quotaflow::bedrock
