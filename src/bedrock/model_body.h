#pragma once
// max_tokens in request bodies. Bedrock reserves `input + max_tokens` against TPM when a request
// starts, and the whole model maximum when the body sets none, so the engine must know (and may
// want to set) the value each body family carries in its own place:
//
//   anthropic      max_tokens
//   amazon-nova    inferenceConfig.max_new_tokens (inferenceConfig.maxTokens is read too)
//   amazon-titan   textGenerationConfig.maxTokenCount
//   meta-llama     max_gen_len
//   mistral        max_tokens
//   cohere         max_tokens
//   ai21           max_tokens (Jamba; Jurassic's maxTokens is read too)
//   other          max_tokens (the OpenAI-style bodies of gpt-oss, DeepSeek, Qwen, ...)
//   Converse       inferenceConfig.maxTokens
//
// Rewriting a body re-serialises it with Boost.JSON: the same JSON value, but not byte for byte
// the same text (key order is kept; number spelling may change, e.g. 0.7 -> 7E-1).
//
// Thread safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "quotaflow/error.h"
#include "quotaflow/token_estimator.h"

namespace quotaflow::bedrock {

// The max_tokens `body` (a native InvokeModel body of `family`) sets, or nullopt when it sets
// none. kInvalidArgument if the body is not a JSON object or the field is not a positive integer.
Result<std::optional<int64_t>> ReadMaxTokens(ModelFamily family, std::string_view body);

// `body` with its max_tokens set to `max_tokens` (created, with any parent object, if missing).
// kInvalidArgument if the body is not a JSON object, a parent is not an object, or max_tokens < 1.
Result<std::string> WriteMaxTokens(ModelFamily family, std::string_view body, int64_t max_tokens);

// The same for a Converse / ConverseStream request body (inferenceConfig.maxTokens).
Result<std::optional<int64_t>> ReadConverseMaxTokens(std::string_view body);
Result<std::string> WriteConverseMaxTokens(std::string_view body, int64_t max_tokens);

}  // namespace quotaflow::bedrock
