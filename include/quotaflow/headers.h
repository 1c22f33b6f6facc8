#pragma once
// HTTP header fields as every layer holds them: the client transport, the error parser, the signer
// and the server core all take this one list.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quotaflow {

// One header field, name and value; names match case-insensitively and may repeat.
using HeaderField = std::pair<std::string, std::string>;
// Header fields in wire order, duplicates kept. Names keep the case they were sent or received
// with (HTTP/2 lowercases every name), so look them up with FindHeader.
using Headers = std::vector<HeaderField>;

// The value of the first field named `name` (ASCII case-insensitive), or nullopt.
std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view name);

}  // namespace quotaflow
