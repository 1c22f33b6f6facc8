#pragma once
// The bedrock-runtime operations quotaflow uses, as typed values: request builders that produce
// the exact HTTP request botocore would send (before signing), and parsers that pull usage, stop
// reason, text and latency out of every place Bedrock reports them. Wire reference:
// ../shared/reference/bedrock-wire.md section 1.
//
// Usage comes from, in order of trust:
// - InvokeModel: the x-amzn-bedrock-{input,output,cache-read-input,cache-write-input}-token-count
//   headers (what Bedrock counted), else the family's native body fields;
// - Converse: the body's `usage` (cacheReadInputTokens / cacheWriteInputTokens included);
// - streams: ConverseStream's `metadata` event, or the `amazon-bedrock-invocationMetrics` in the
//   last InvokeModelWithResponseStream chunk (stream.h).
// `Usage::input_tokens` is what Bedrock reports as input: cached tokens excluded.
//
// Thread safety: pure functions over values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aws/http.h"
#include "quotaflow/accounting.h"
#include "quotaflow/error.h"
#include "quotaflow/token_estimator.h"

namespace quotaflow::bedrock {

enum class Operation {
  kInvokeModel,
  kInvokeModelWithResponseStream,
  kConverse,
  kConverseStream,
  kCountTokens,
};

// "InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "CountTokens".
std::string_view OperationName(Operation op);
// The last path segment: "invoke", "invoke-with-response-stream", "converse", ...
std::string_view OperationAction(Operation op);
bool IsStreaming(Operation op);

// --- requests ---

// InvokeModel and InvokeModelWithResponseStream.
struct InvokeModelRequest {
  std::string model_id;  // base id, profile id or ARN
  std::string body;      // the provider-native JSON body
  std::string content_type = "application/json";
  // Sent as Accept for InvokeModel, as X-Amzn-Bedrock-Accept for the stream variant.
  std::string accept = "application/json";
  // Optional headers; empty means not sent.
  std::string trace;                 // X-Amzn-Bedrock-Trace: ENABLED | DISABLED | ENABLED_FULL
  std::string guardrail_identifier;  // X-Amzn-Bedrock-GuardrailIdentifier
  std::string guardrail_version;     // X-Amzn-Bedrock-GuardrailVersion
  std::string
      performance_latency;   // X-Amzn-Bedrock-PerformanceConfig-Latency: standard | optimized
  std::string service_tier;  // X-Amzn-Bedrock-Service-Tier: priority | default | flex | reserved
};

// Converse and ConverseStream.
struct ConverseRequest {
  std::string model_id;
  // The request JSON without modelId: messages, system, inferenceConfig, toolConfig, ...
  std::string body;
};

// CountTokens: how many input tokens Bedrock would count for a Converse or InvokeModel request.
struct CountTokensRequest {
  enum class Input { kConverse, kInvokeModel };

  std::string model_id;
  Input input = Input::kConverse;
  // A Converse request body (only messages, system, toolConfig and additionalModelRequestFields
  // are kept: CountTokens takes nothing else), or a native InvokeModel body (sent base64).
  std::string body;
};

// "/model/<model id percent-encoded>/<action>": every byte but A-Z a-z 0-9 - _ . ~ encoded, as
// botocore does for the modelId label (':' -> %3A, '/' -> %2F).
std::string ModelPath(std::string_view model_id, Operation op);

// Each builder returns the unsigned POST to `endpoint` ("https://bedrock-runtime.us-east-1.
// amazonaws.com", a trailing '/' or a path prefix allowed) with exactly botocore's headers:
// Converse, ConverseStream and CountTokens send only `Content-Type: application/json`;
// InvokeModel sends Content-Type and Accept; InvokeModelWithResponseStream sends Content-Type and
// X-Amzn-Bedrock-Accept; then the optional X-Amzn-Bedrock-* headers that are set. The transport
// adds Content-Length and the signer Host, X-Amz-Date and Authorization.
// kInvalidArgument for an endpoint that is not http(s), an empty model id or one over 2048 bytes,
// and (CountTokens) a body that is not a JSON object.
Result<aws::HttpRequest> BuildInvokeModel(std::string_view endpoint, const InvokeModelRequest& r);
Result<aws::HttpRequest> BuildInvokeModelWithResponseStream(std::string_view endpoint,
                                                            const InvokeModelRequest& r);
Result<aws::HttpRequest> BuildConverse(std::string_view endpoint, const ConverseRequest& r);
Result<aws::HttpRequest> BuildConverseStream(std::string_view endpoint, const ConverseRequest& r);
Result<aws::HttpRequest> BuildCountTokens(std::string_view endpoint, const CountTokensRequest& r);

// --- responses ---

// Why generation stopped, across families. The raw value is kept beside it.
enum class StopReason {
  kUnknown,                // not reported (yet)
  kEndTurn,                // end_turn, FINISH, stop, COMPLETE
  kMaxTokens,              // max_tokens, LENGTH, length, MAX_TOKENS: the output was cut
  kStopSequence,           // stop_sequence, STOP_CRITERIA_MET
  kToolUse,                // tool_use, tool_calls
  kContentFiltered,        // content_filtered, CONTENT_FILTERED, ERROR_TOXIC
  kGuardrailIntervened,    // guardrail_intervened
  kContextWindowExceeded,  // model_context_window_exceeded
  kOther,                  // anything else (malformed_model_output, ERROR, ...)
};

StopReason NormalizeStopReason(std::string_view raw);
std::string_view StopReasonName(StopReason reason);

enum class UsageSource {
  kNone,     // the response reported no usage: charge what was reserved
  kHeaders,  // x-amzn-bedrock-*-token-count headers
  kBody,     // the response body (Converse usage, a family's native fields)
  kStream,   // a stream's metadata event or invocation metrics (or, failing those, native counts)
};

std::string_view UsageSourceName(UsageSource source);

// The outcome of a Converse, InvokeModel or streaming call.
struct ModelResponse {
  Usage usage;
  UsageSource usage_source = UsageSource::kNone;
  std::string stop_reason;  // as the service or model sent it
  StopReason stop = StopReason::kUnknown;
  // The text output: every text block (or text delta) in order, concatenated without separators.
  // Reasoning and tool-use input are not included.
  std::string text;
  // Converse `metrics.latencyMs`, the x-amzn-bedrock-invocation-latency header, or a stream's
  // metadata latency / invocationLatency.
  std::optional<int64_t> latency_ms;
  std::string request_id;  // x-amzn-RequestId
  // InvokeModel: the body shape recognised (kOther when none was).
  ModelFamily body_family = ModelFamily::kOther;
  // HTTP attempts the runtime client made, retries of transient faults included.
  int attempts = 1;
};

// Usage from the x-amzn-bedrock-*-token-count headers; nullopt unless the input count is there and
// numeric. A missing output count is 0 (embedding models send the input count alone); missing
// cache counts are 0.
std::optional<Usage> UsageFromHeaders(const aws::HttpHeaders& headers);
// x-amzn-bedrock-invocation-latency, in milliseconds.
std::optional<int64_t> LatencyFromHeaders(const aws::HttpHeaders& headers);

// A Converse response body (HTTP 200). kProtocol if it is not a JSON object. A body without
// `usage` parses, with usage_source kNone (or kHeaders if the headers carry the counts).
Result<ModelResponse> ParseConverseResponse(const aws::HttpHeaders& headers, std::string_view body);

// An InvokeModel response body (HTTP 200) of any family, recognised by its shape: Anthropic
// Messages, Nova, Titan, Llama, Mistral (text and chat), Cohere (Command and Command R), AI21
// (Jamba and Jurassic), and OpenAI-style chat completions. Usage from the headers when present
// (cache counts from the body if the headers lack them), else from the body.
// kProtocol if the body is not a JSON object; an unrecognised shape parses with body_family
// kOther and whatever the headers say.
Result<ModelResponse> ParseInvokeModelResponse(const aws::HttpHeaders& headers,
                                               std::string_view body);

// A CountTokens response body: `{"inputTokens": n}`. kProtocol otherwise.
Result<int64_t> ParseCountTokensResponse(std::string_view body);

}  // namespace quotaflow::bedrock
