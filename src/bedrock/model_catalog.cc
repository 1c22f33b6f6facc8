#include "bedrock/model_catalog.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/check.h"

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;

constexpr std::array<std::pair<ModelFamily, std::string_view>, 8> kFamilyNames = {{
    {ModelFamily::kAnthropic, "anthropic"},
    {ModelFamily::kAmazonNova, "amazon-nova"},
    {ModelFamily::kAmazonTitan, "amazon-titan"},
    {ModelFamily::kMetaLlama, "meta-llama"},
    {ModelFamily::kMistral, "mistral"},
    {ModelFamily::kCohere, "cohere"},
    {ModelFamily::kAi21, "ai21"},
    {ModelFamily::kOther, "other"},
}};

constexpr std::array<std::string_view, 7> kProfilePrefixes = {"us", "eu",     "apac",  "jp",
                                                              "au", "us-gov", "global"};

Error Invalid(const std::string& where, const std::string& what) {
  return Error::InvalidArgument("model catalog: " + where + ": " + what);
}

// Reads field `key` of `entry` into `out`; the first failure is kept in `error`.
class FieldReader {
 public:
  FieldReader(const json::object& entry, std::string where)
      : entry_(entry), where_(std::move(where)) {}

  void String(std::string_view key, std::string& out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (const json::string* s = v->if_string(); s != nullptr && !s->empty()) {
      out.assign(s->data(), s->size());
    } else {
      Fail(key, "must be a non-empty string");
    }
  }

  void Integer(std::string_view key, int64_t& out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (v->is_int64()) {
      out = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= INT64_MAX) {
      out = static_cast<int64_t>(v->get_uint64());
    } else {
      Fail(key, "must be an integer");
    }
  }

  void Number(std::string_view key, double& out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (v->is_double()) {
      out = v->get_double();
    } else if (v->is_int64()) {
      out = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
      out = static_cast<double>(v->get_uint64());
    } else {
      Fail(key, "must be a number");
    }
  }

  void Bool(std::string_view key, bool& out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (v->is_bool()) {
      out = v->get_bool();
    } else {
      Fail(key, "must be true or false");
    }
  }

  // As Bool, but an absent field leaves `out` as it is.
  void OptionalBool(std::string_view key, bool& out) {
    if (entry_.contains(key)) Bool(key, out);
  }

  void StringList(std::string_view key, std::vector<std::string>& out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    const json::array* list = v->if_array();
    if (list == nullptr) return Fail(key, "must be an array of strings");
    for (const json::value& item : *list) {
      if (!item.is_string()) return Fail(key, "must be an array of strings");
      out.emplace_back(item.get_string().data(), item.get_string().size());
    }
  }

  void Fail(std::string_view key, const std::string& what) {
    if (!error_) error_ = Invalid(where_, std::string(key) + " " + what);
  }

  std::optional<Error>& error() { return error_; }

 private:
  const json::value* Get(std::string_view key) {
    const json::value* v = entry_.if_contains(key);
    if (v == nullptr) Fail(key, "is missing");
    return v;
  }

  const json::object& entry_;
  std::string where_;
  std::optional<Error> error_;
};

Result<ModelInfo> ParseEntry(const json::value& value, size_t position) {
  std::string where = "models[" + std::to_string(position) + "]";
  const json::object* entry = value.if_object();
  if (entry == nullptr) return tl::unexpected(Invalid(where, "is not an object"));
  if (const json::value* id = entry->if_contains("id"); id != nullptr && id->is_string()) {
    where += " (" + std::string(id->get_string()) + ")";
  }

  ModelInfo m;
  std::string family;
  FieldReader read(*entry, where);
  read.String("id", m.id);
  read.String("name", m.name);
  read.String("family", family);
  read.Integer("context_window", m.context_window);
  read.Integer("max_output_tokens", m.max_output_tokens);
  read.Integer("default_output_tokens", m.default_output_tokens);
  read.Integer("output_burndown", m.output_burndown);
  read.Bool("on_demand", m.on_demand);
  read.OptionalBool("count_tokens", m.count_tokens);
  read.StringList("profiles", m.profiles);
  read.Number("price_per_1k_input", m.price_per_1k_input);
  read.Number("price_per_1k_output", m.price_per_1k_output);
  if (std::optional<Error>& error = read.error(); error.has_value()) {
    return tl::unexpected(std::move(*error));
  }

  const std::optional<ModelFamily> parsed_family = ParseModelFamily(family);
  if (!parsed_family || *parsed_family == ModelFamily::kOther) {
    return tl::unexpected(Invalid(where, "unknown family '" + family + "'"));
  }
  m.family = *parsed_family;
  if (m.context_window <= 0 || m.max_output_tokens <= 0 || m.default_output_tokens <= 0) {
    return tl::unexpected(Invalid(where, "token limits must be positive"));
  }
  if (m.default_output_tokens > m.max_output_tokens) {
    return tl::unexpected(Invalid(where, "default_output_tokens exceeds max_output_tokens"));
  }
  if (m.output_burndown < 1) return tl::unexpected(Invalid(where, "output_burndown below 1"));
  if (m.price_per_1k_input < 0 || m.price_per_1k_output < 0) {
    return tl::unexpected(Invalid(where, "prices must not be negative"));
  }
  for (const std::string& prefix : m.profiles) {
    if (!IsProfilePrefix(prefix)) {
      return tl::unexpected(Invalid(where, "unknown profile prefix '" + prefix + "'"));
    }
  }
  if (!m.on_demand && m.profiles.empty()) {
    return tl::unexpected(Invalid(where, "neither on_demand nor any profile: never invocable"));
  }
  return m;
}

// The id an ARN names, and whether it names an inference profile; nullopt for other resources.
struct ArnTarget {
  std::string_view resource_id;
  bool profile = false;
};

Result<ArnTarget> ParseArn(std::string_view arn) {
  // arn:<partition>:bedrock:<region>:<account>:<type>/<id>
  std::string_view rest = arn;
  for (int i = 0; i < 5; ++i) {
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return tl::unexpected(Error::NotFound("malformed ARN '" + std::string(arn) + "'"));
    }
    if (i == 2 && rest.substr(0, colon) != "bedrock") {
      return tl::unexpected(Error::NotFound("not a Bedrock ARN: '" + std::string(arn) + "'"));
    }
    rest.remove_prefix(colon + 1);
  }
  const size_t slash = rest.find('/');
  const std::string_view type = rest.substr(0, slash);
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return tl::unexpected(Error::NotFound("malformed ARN '" + std::string(arn) + "'"));
  }
  const std::string_view id = rest.substr(slash + 1);
  if (type == "foundation-model") return ArnTarget{id, false};
  if (type == "inference-profile") return ArnTarget{id, true};
  return tl::unexpected(Error::NotFound(
      "the model catalog cannot resolve a " + std::string(type) +
      " ARN (only the control plane knows which model it points to): '" + std::string(arn) + "'"));
}

}  // namespace

std::string_view ModelFamilyName(ModelFamily family) {
  for (const auto& [f, name] : kFamilyNames) {
    if (f == family) return name;
  }
  return "other";
}

std::optional<ModelFamily> ParseModelFamily(std::string_view name) {
  for (const auto& [f, n] : kFamilyNames) {
    if (n == name) return f;
  }
  return std::nullopt;
}

bool IsProfilePrefix(std::string_view prefix) {
  return std::find(kProfilePrefixes.begin(), kProfilePrefixes.end(), prefix) !=
         kProfilePrefixes.end();
}

bool ModelInfo::HasProfile(std::string_view prefix) const {
  return std::find(profiles.begin(), profiles.end(), prefix) != profiles.end();
}

std::string ModelInfo::ProfileId(std::string_view prefix) const {
  return std::string(prefix) + "." + id;
}

Result<ModelCatalog> ModelCatalog::Parse(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) return tl::unexpected(Error::InvalidArgument("model catalog: bad JSON: " + ec.message()));
  const json::object* object = root.if_object();
  const json::value* models = object != nullptr ? object->if_contains("models") : nullptr;
  if (models == nullptr || !models->is_array()) {
    return tl::unexpected(Error::InvalidArgument("model catalog: no \"models\" array"));
  }
  ModelCatalog catalog;
  const json::array& entries = models->get_array();
  catalog.models_.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    Result<ModelInfo> model = ParseEntry(entries[i], i);
    if (!model) return tl::unexpected(std::move(model.error()));
    if (!catalog.index_.emplace(model->id, catalog.models_.size()).second) {
      return tl::unexpected(Error::InvalidArgument("model catalog: duplicate id " + model->id));
    }
    catalog.models_.push_back(std::move(*model));
  }
  return catalog;
}

Result<ModelCatalog> ModelCatalog::Load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(Error::Io("cannot open model catalog " + path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return tl::unexpected(Error::Io("cannot read model catalog " + path.string()));
  Result<ModelCatalog> catalog = Parse(text.str());
  if (!catalog) catalog.error().message += " (" + path.string() + ")";
  return catalog;
}

const ModelCatalog& ModelCatalog::Default() {
  static const ModelCatalog kDefault = [] {
    Result<ModelCatalog> catalog = Parse(EmbeddedModelCatalogJson());
    // The build embeds data/models.json and model_catalog_test parses it: a failure here is a
    // broken build, not a runtime condition.
    QF_CHECK(catalog.has_value());
    return std::move(*catalog);
  }();
  return kDefault;
}

Result<ResolvedModel> ModelCatalog::Resolve(std::string_view model_id) const {
  std::string_view id = model_id;
  bool must_be_profile = false;
  if (id.starts_with("arn:")) {
    Result<ArnTarget> target = ParseArn(id);
    if (!target) return tl::unexpected(std::move(target.error()));
    id = target->resource_id;
    must_be_profile = target->profile;
  }
  if (auto it = index_.find(std::string(id)); it != index_.end()) {
    if (must_be_profile) {
      return tl::unexpected(Error::NotFound("inference-profile ARN names a base model id: '" +
                                            std::string(model_id) + "'"));
    }
    return ResolvedModel{&models_[it->second], ""};
  }
  const size_t dot = id.find('.');
  if (dot != std::string_view::npos && IsProfilePrefix(id.substr(0, dot))) {
    const std::string_view prefix = id.substr(0, dot);
    if (auto it = index_.find(std::string(id.substr(dot + 1))); it != index_.end()) {
      const ModelInfo& model = models_[it->second];
      if (model.HasProfile(prefix)) return ResolvedModel{&model, std::string(prefix)};
      return tl::unexpected(Error::NotFound("model " + model.id + " has no '" +
                                            std::string(prefix) + "' inference profile"));
    }
  }
  return tl::unexpected(
      Error::NotFound("model '" + std::string(model_id) + "' is not in the model catalog"));
}

const ModelInfo* ModelCatalog::Find(std::string_view model_id) const {
  Result<ResolvedModel> resolved = Resolve(model_id);
  return resolved ? resolved->model : nullptr;
}

}  // namespace quotaflow::bedrock
