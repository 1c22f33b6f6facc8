#pragma once
// Standard base64 (RFC 4648, '+' '/', '=' padding): the encoding of InvokeModelWithResponseStream
// `chunk.bytes` and of CountTokens' `invokeModel.body`.
//
// Thread safety: pure functions.

#include <optional>
#include <string>
#include <string_view>

namespace quotaflow::bedrock {

std::string Base64Encode(std::string_view bytes);

// nullopt for anything that is not canonical padded base64 (wrong length, a stray character,
// misplaced padding). Whitespace is not accepted: JSON strings carry none.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace quotaflow::bedrock
