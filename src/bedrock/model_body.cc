#include "bedrock/model_body.h"

#include <boost/json.hpp>
#include <span>
#include <vector>

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;

// Where a family keeps max_tokens: the parent object's path (empty = top level) and the field
// names, the one written first, then spellings that are only read.
struct FieldPlace {
  std::vector<std::string_view> parent;
  std::vector<std::string_view> names;
};

FieldPlace PlaceFor(ModelFamily family) {
  switch (family) {
    case ModelFamily::kAmazonNova:
      return {{"inferenceConfig"}, {"max_new_tokens", "maxTokens"}};
    case ModelFamily::kAmazonTitan:
      return {{"textGenerationConfig"}, {"maxTokenCount"}};
    case ModelFamily::kMetaLlama:
      return {{}, {"max_gen_len"}};
    case ModelFamily::kAi21:
      return {{}, {"max_tokens", "maxTokens"}};
    case ModelFamily::kAnthropic:
    case ModelFamily::kMistral:
    case ModelFamily::kCohere:
    case ModelFamily::kOther:
      return {{}, {"max_tokens"}};
  }
  return {{}, {"max_tokens"}};
}

const FieldPlace& ConversePlace() {
  static const FieldPlace kPlace{{"inferenceConfig"}, {"maxTokens"}};
  return kPlace;
}

Result<json::value> ParseBody(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    return tl::unexpected(
        Error::InvalidArgument("request body is not valid JSON (" + ec.message() + ")"));
  }
  if (!v.is_object())
    return tl::unexpected(Error::InvalidArgument("request body is not an object"));
  return v;
}

std::string Describe(const FieldPlace& place, std::string_view name) {
  std::string path;
  for (std::string_view p : place.parent) path.append(p).append(".");
  return path.append(name);
}

Result<std::optional<int64_t>> Read(const FieldPlace& place, std::string_view body) {
  Result<json::value> root = ParseBody(body);
  if (!root) return tl::unexpected(std::move(root.error()));
  const json::object* parent = &root->get_object();
  for (std::string_view key : place.parent) {
    const json::value* next = parent->if_contains(key);
    if (next == nullptr || next->is_null()) return std::nullopt;
    parent = next->if_object();
    if (parent == nullptr) {
      return tl::unexpected(
          Error::InvalidArgument("request body field " + std::string(key) + " is not an object"));
    }
  }
  for (std::string_view name : place.names) {
    const json::value* v = parent->if_contains(name);
    if (v == nullptr || v->is_null()) continue;
    if (v->is_int64() && v->get_int64() > 0) return v->get_int64();
    return tl::unexpected(Error::InvalidArgument("request body field " + Describe(place, name) +
                                                 " is not a positive integer"));
  }
  return std::nullopt;
}

Result<std::string> Write(const FieldPlace& place, std::string_view body, int64_t max_tokens) {
  if (max_tokens < 1) {
    return tl::unexpected(
        Error::InvalidArgument("max_tokens must be at least 1, not " + std::to_string(max_tokens)));
  }
  Result<json::value> root = ParseBody(body);
  if (!root) return tl::unexpected(std::move(root.error()));
  json::object* parent = &root->get_object();
  for (std::string_view key : place.parent) {
    json::value& next = (*parent)[key];
    if (next.is_null()) next = json::object();
    parent = next.if_object();
    if (parent == nullptr) {
      return tl::unexpected(
          Error::InvalidArgument("request body field " + std::string(key) + " is not an object"));
    }
  }
  // Overwrite a spelling the body already uses, so that it never carries two disagreeing values.
  std::string_view name = place.names.front();
  for (std::string_view candidate : place.names) {
    if (parent->contains(candidate)) {
      name = candidate;
      break;
    }
  }
  (*parent)[name] = max_tokens;
  return json::serialize(*root);
}

}  // namespace

Result<std::optional<int64_t>> ReadMaxTokens(ModelFamily family, std::string_view body) {
  return Read(PlaceFor(family), body);
}

Result<std::string> WriteMaxTokens(ModelFamily family, std::string_view body, int64_t max_tokens) {
  return Write(PlaceFor(family), body, max_tokens);
}

Result<std::optional<int64_t>> ReadConverseMaxTokens(std::string_view body) {
  return Read(ConversePlace(), body);
}

Result<std::string> WriteConverseMaxTokens(std::string_view body, int64_t max_tokens) {
  return Write(ConversePlace(), body, max_tokens);
}

}  // namespace quotaflow::bedrock
