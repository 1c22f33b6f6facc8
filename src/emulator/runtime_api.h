#pragma once
// The bedrock-runtime half of the emulator, without I/O: what a request asks for (which model,
// how many input tokens, how many output tokens it may have, where its cacheable prefix ends),
// Bedrock's validation errors, and the bytes of every response shape (Converse, each family's
// native InvokeModel body, ConverseStream events, InvokeModelWithResponseStream chunks).
// emulator.cc charges the quota, applies latency and faults, and sends what this file builds.
//
// Thread safety: pure functions over values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bedrock/model_catalog.h"
#include "bedrock/operations.h"
#include "emulator/options.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {

class ApplicationProfiles;  // inference_profiles.h

// An error as the service sends it: HTTP status, x-amzn-ErrorType code, message.
struct ApiError {
  int status = 400;
  std::string code = "ValidationException";
  std::string message;
};

// A prompt prefix shorter than this is never cached (Bedrock's minimum for Claude and Nova is
// 1,024 tokens per cache checkpoint): its cachePoint is ignored, as Bedrock ignores it.
inline constexpr int64_t kMinCacheablePrefixTokens = 1024;

// One runtime request, as the emulator understands it.
struct Invocation {
  bedrock::Operation op = bedrock::Operation::kConverse;
  std::string model_id;  // as the path named it, percent-decoded
  // The model and path it is served on; for an application profile, its source's.
  bedrock::ResolvedModel resolved;
  // Every input token, a cacheable prefix included.
  int64_t input_tokens = 0;
  // Tokens up to the last cache checkpoint (Converse `cachePoint`, Anthropic `cache_control`,
  // Nova `cachePoint`) and a hash of that prefix; 0 when there is none or it is too short.
  int64_t cache_prefix_tokens = 0;
  uint64_t cache_prefix_hash = 0;
  std::optional<int64_t> max_tokens;  // as the request set it
  int64_t output_cap = 0;             // max_tokens, or the model's default when absent
  uint64_t content_hash = 0;          // of the body: seeds the output
  // Converse's performanceConfig.latency and serviceTier.type, echoed in the response.
  std::string performance_latency;
  std::string service_tier;
};

// "/model/<id>/<action>[?query]" → the operation and the percent-decoded model id; nullopt for
// any other path.
std::optional<std::pair<bedrock::Operation, std::string>> ParseRuntimePath(std::string_view target);

// Validates and measures a runtime request in `region`. CountTokens bodies are unwrapped
// ({"input":{"converse":{...}}} or {"input":{"invokeModel":{"body":"<base64>"}}}) and measured as
// the request they wrap. A model id naming one of `applications` in `region` (its id or ARN) is
// the model the profile copies, on its source's path (Invocation::resolved). Errors carry
// Bedrock's status, code and message.
tl::expected<Invocation, ApiError> ParseInvocation(bedrock::Operation op, std::string model_id,
                                                   std::string_view body, std::string_view region,
                                                   const bedrock::ModelCatalog& catalog,
                                                   const ApplicationProfiles& applications);

// The input tokens the emulator charges a Converse body sent to `model_id` in us-east-1, for any
// model, whether or not CountTokens counts for it: what tests and benchmarks hold an estimate
// against. kInvalidArgument with the emulator's message for a request it would refuse.
Result<int64_t> ConverseInputTokens(std::string_view model_id, std::string_view body);

// What the "model" produced for one admitted request.
struct Generation {
  int64_t input_tokens = 0;  // billed input: the cached prefix excluded
  int64_t cache_read_input_tokens = 0;
  int64_t cache_write_input_tokens = 0;
  int64_t output_tokens = 0;
  bool max_tokens_reached = false;  // the output was cut at output_cap
  std::string text;
  std::vector<uint32_t> token_ends;  // streams only: where each output token ends in `text`
  int64_t latency_ms = 0;            // whole invocation
  int64_t first_byte_latency_ms = 0;
};

// The output length drawn for a request: from `options`' distribution, seeded by `seed`, at least
// 1, then capped at `cap` (a draw above the cap is cut: max_tokens_reached).
std::pair<int64_t, bool> DrawOutputTokens(const OutputLengthOptions& options, uint64_t seed,
                                          int64_t cap);

std::string ConverseResponseBody(const Invocation& inv, const Generation& g);
// Whether the InvokeModel response carries the cache token-count headers even when they are 0
// (Nova does; Anthropic sends them only when caching happened).
bool AlwaysSendsCacheCounts(const Invocation& inv);
// The model family's native InvokeModel response body.
std::string InvokeResponseBody(const Invocation& inv, const Generation& g);
std::string CountTokensResponseBody(int64_t input_tokens);

// One event-stream frame, sent once `output_tokens_before` output tokens have been "generated"
// (the latency model turns that into a time).
struct StreamFrame {
  std::string bytes;
  int64_t output_tokens_before = 0;
};

// ConverseStream: messageStart, contentBlockDelta per `tokens_per_delta` tokens,
// contentBlockStop, messageStop, metadata.
std::vector<StreamFrame> ConverseStreamFrames(const Invocation& inv, const Generation& g,
                                              int64_t tokens_per_delta);
// InvokeModelWithResponseStream: `chunk` events carrying the family's native stream events in
// base64; the last carries `amazon-bedrock-invocationMetrics`.
std::vector<StreamFrame> InvokeStreamFrames(const Invocation& inv, const Generation& g,
                                            int64_t tokens_per_delta);
// A mid-stream exception frame: `:exception-type` e.g. "throttlingException", body {"message"}.
std::string ExceptionFrame(std::string_view exception_type, std::string_view message);

}  // namespace quotaflow::emulator
