#include "quotaflow/headers.h"

namespace quotaflow {

std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view name) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& [field, value] : headers) {
    if (field.size() != name.size()) continue;
    bool equal = true;
    for (size_t i = 0; i < name.size() && equal; ++i) equal = lower(field[i]) == lower(name[i]);
    if (equal) return value;
  }
  return std::nullopt;
}

}  // namespace quotaflow
