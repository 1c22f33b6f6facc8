#pragma once
// Private to bedrock/: lenient readers over Boost.JSON values. Bedrock bodies differ by model
// family and grow fields over time, so a reader asks for a path and gets nothing, never an
// exception, when the path or type is not there.

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "quotaflow/accounting.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock::internal {

namespace json = boost::json;

// The value at `path` (object keys) under `v`, or nullptr.
inline const json::value* At(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* current = &v;
  for (std::string_view key : path) {
    const json::object* object = current->if_object();
    if (object == nullptr) return nullptr;
    current = object->if_contains(key);
    if (current == nullptr) return nullptr;
  }
  return current;
}

// An integral number (a double with an integral value too: some bodies carry 12.0).
inline std::optional<int64_t> AsInt(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  if (v->is_double()) {
    const double d = v->get_double();
    if (d >= -9.0e18 && d <= 9.0e18 && static_cast<double>(static_cast<int64_t>(d)) == d) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

inline std::optional<int64_t> IntAt(const json::value& v,
                                    std::initializer_list<std::string_view> path) {
  return AsInt(At(v, path));
}

// The string at `path`; empty when absent, null or not a string.
inline std::string_view StringAt(const json::value& v,
                                 std::initializer_list<std::string_view> path) {
  const json::value* s = At(v, path);
  if (s == nullptr || !s->is_string()) return {};
  return {s->get_string().data(), s->get_string().size()};
}

inline const json::array* ArrayAt(const json::value& v,
                                  std::initializer_list<std::string_view> path) {
  const json::value* a = At(v, path);
  return a == nullptr ? nullptr : a->if_array();
}

// Parses `text`, which must be a JSON object: kProtocol (naming `what`) otherwise.
inline Result<json::value> ParseObject(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return tl::unexpected(
        Error::Protocol(std::string(what) + " is not valid JSON (" + ec.message() + ")"));
  }
  if (!v.is_object()) {
    return tl::unexpected(Error::Protocol(std::string(what) + " is not a JSON object"));
  }
  return v;
}

// Converse-shaped token usage (Converse `usage`, ConverseStream `metadata.usage`, Nova's native
// `usage`): inputTokens, outputTokens, cacheReadInputTokens, cacheWriteInputTokens, accepting
// the older `...InputTokenCount` spellings Nova and some responses use. nullopt unless both
// inputTokens and outputTokens are there.
std::optional<Usage> ConverseUsage(const json::value& usage);

// `amazon-bedrock-invocationMetrics` (inputTokenCount, outputTokenCount, cache counts) as usage;
// nullopt unless both counts are there.
std::optional<Usage> InvocationMetricsUsage(const json::value& metrics);

}  // namespace quotaflow::bedrock::internal
