#include "bedrock/operations.h"

#include <array>
#include <charconv>
#include <utility>

#include "aws/uri.h"
#include "bedrock/base64.h"
#include "bedrock/json_util.h"

namespace quotaflow::bedrock {

namespace internal {

std::optional<Usage> ConverseUsage(const json::value& usage) {
  const std::optional<int64_t> input = IntAt(usage, {"inputTokens"});
  const std::optional<int64_t> output = IntAt(usage, {"outputTokens"});
  if (!input || !output) return std::nullopt;
  Usage u;
  u.input_tokens = *input;
  u.output_tokens = *output;
  // Converse says cacheReadInputTokens; Nova's native body and some Converse responses say
  // cacheReadInputTokenCount (a few send both, always equal).
  u.cache_read_tokens = IntAt(usage, {"cacheReadInputTokens"})
                            .value_or(IntAt(usage, {"cacheReadInputTokenCount"}).value_or(0));
  u.cache_write_tokens = IntAt(usage, {"cacheWriteInputTokens"})
                             .value_or(IntAt(usage, {"cacheWriteInputTokenCount"}).value_or(0));
  return u;
}

std::optional<Usage> InvocationMetricsUsage(const json::value& metrics) {
  const std::optional<int64_t> input = IntAt(metrics, {"inputTokenCount"});
  const std::optional<int64_t> output = IntAt(metrics, {"outputTokenCount"});
  if (!input || !output) return std::nullopt;
  Usage u;
  u.input_tokens = *input;
  u.output_tokens = *output;
  u.cache_read_tokens = IntAt(metrics, {"cacheReadInputTokenCount"}).value_or(0);
  u.cache_write_tokens = IntAt(metrics, {"cacheWriteInputTokenCount"}).value_or(0);
  return u;
}

}  // namespace internal

namespace {

using internal::ArrayAt;
using internal::At;
using internal::IntAt;
namespace json = boost::json;
using internal::StringAt;

// botocore's modelId limit (service-2.json: 1..2048).
constexpr size_t kMaxModelIdLength = 2048;

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = (s[i] >= 'A' && s[i] <= 'Z') ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
    if (c != prefix[i]) return false;
  }
  return true;
}

Result<aws::HttpRequest> StartRequest(std::string_view endpoint, std::string_view model_id,
                                      Operation op) {
  if (!StartsWithIgnoreCase(endpoint, "http://") && !StartsWithIgnoreCase(endpoint, "https://")) {
    return tl::unexpected(Error::InvalidArgument("Bedrock endpoint is not an http(s) URL: '" +
                                                 std::string(endpoint) + "'"));
  }
  if (model_id.empty() || model_id.size() > kMaxModelIdLength) {
    return tl::unexpected(Error::InvalidArgument("model id must be 1 to 2048 bytes long"));
  }
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  aws::HttpRequest request;
  request.method = aws::HttpMethod::kPost;
  request.url.assign(endpoint).append(ModelPath(model_id, op));
  return request;
}

void AddOptionalHeader(aws::HttpHeaders& headers, std::string_view name, const std::string& value) {
  if (!value.empty()) headers.emplace_back(std::string(name), value);
}

Result<aws::HttpRequest> BuildInvoke(std::string_view endpoint, const InvokeModelRequest& r,
                                     Operation op) {
  Result<aws::HttpRequest> request = StartRequest(endpoint, r.model_id, op);
  if (!request) return request;
  aws::HttpHeaders& h = request->headers;
  // botocore's order: the input shape's members (contentType, accept, trace, guardrail...).
  AddOptionalHeader(h, "Content-Type", r.content_type);
  AddOptionalHeader(h, op == Operation::kInvokeModel ? "Accept" : "X-Amzn-Bedrock-Accept",
                    r.accept);
  AddOptionalHeader(h, "X-Amzn-Bedrock-Trace", r.trace);
  AddOptionalHeader(h, "X-Amzn-Bedrock-GuardrailIdentifier", r.guardrail_identifier);
  AddOptionalHeader(h, "X-Amzn-Bedrock-GuardrailVersion", r.guardrail_version);
  AddOptionalHeader(h, "X-Amzn-Bedrock-PerformanceConfig-Latency", r.performance_latency);
  AddOptionalHeader(h, "X-Amzn-Bedrock-Service-Tier", r.service_tier);
  request->body = r.body;
  return request;
}

Result<aws::HttpRequest> BuildJson(std::string_view endpoint, std::string_view model_id,
                                   Operation op, std::string body) {
  Result<aws::HttpRequest> request = StartRequest(endpoint, model_id, op);
  if (!request) return request;
  request->headers.emplace_back("Content-Type", "application/json");
  request->body = std::move(body);
  return request;
}

std::optional<int64_t> HeaderInt(const aws::HttpHeaders& headers, std::string_view name) {
  std::optional<std::string_view> value = aws::FindHeader(headers, name);
  if (!value) return std::nullopt;
  std::string_view v = *value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty() || n < 0) return std::nullopt;
  return n;
}

std::string RequestId(const aws::HttpHeaders& headers) {
  return std::string(aws::FindHeader(headers, "x-amzn-RequestId").value_or(""));
}

void SetStop(ModelResponse& r, std::string_view raw) {
  r.stop_reason = std::string(raw);
  r.stop = NormalizeStopReason(raw);
}

// The text blocks of a Converse-shaped `content` array.
void AppendConverseText(const json::array* content, std::string& text) {
  if (content == nullptr) return;
  for (const json::value& block : *content) text.append(StringAt(block, {"text"}));
}

// --- InvokeModel body shapes ---

void ParseNova(const json::value& b, ModelResponse& r) {
  AppendConverseText(ArrayAt(b, {"output", "message", "content"}), r.text);
  SetStop(r, StringAt(b, {"stopReason"}));
  if (const json::value* usage = At(b, {"usage"}); usage != nullptr) {
    if (auto u = internal::ConverseUsage(*usage)) {
      r.usage = *u;
      r.usage_source = UsageSource::kBody;
    }
  }
}

void ParseAnthropic(const json::value& b, ModelResponse& r) {
  for (const json::value& block : *ArrayAt(b, {"content"})) {
    if (StringAt(block, {"type"}) == "text") r.text.append(StringAt(block, {"text"}));
  }
  SetStop(r, StringAt(b, {"stop_reason"}));
  const std::optional<int64_t> input = IntAt(b, {"usage", "input_tokens"});
  const std::optional<int64_t> output = IntAt(b, {"usage", "output_tokens"});
  if (input && output) {
    r.usage.input_tokens = *input;
    r.usage.output_tokens = *output;
    r.usage.cache_write_tokens = IntAt(b, {"usage", "cache_creation_input_tokens"}).value_or(0);
    r.usage.cache_read_tokens = IntAt(b, {"usage", "cache_read_input_tokens"}).value_or(0);
    r.usage_source = UsageSource::kBody;
  }
}

void ParseTitan(const json::value& b, ModelResponse& r) {
  int64_t output = 0;
  bool counted = true;
  for (const json::value& result : *ArrayAt(b, {"results"})) {
    r.text.append(StringAt(result, {"outputText"}));
    if (r.stop_reason.empty()) SetStop(r, StringAt(result, {"completionReason"}));
    const std::optional<int64_t> n = IntAt(result, {"tokenCount"});
    counted = counted && n.has_value();
    output += n.value_or(0);
  }
  const std::optional<int64_t> input = IntAt(b, {"inputTextTokenCount"});
  if (input && counted) {
    r.usage.input_tokens = *input;
    r.usage.output_tokens = output;
    r.usage_source = UsageSource::kBody;
  }
}

void ParseLlama(const json::value& b, ModelResponse& r) {
  r.text = std::string(StringAt(b, {"generation"}));
  SetStop(r, StringAt(b, {"stop_reason"}));
  const std::optional<int64_t> input = IntAt(b, {"prompt_token_count"});
  const std::optional<int64_t> output = IntAt(b, {"generation_token_count"});
  if (input && output) {
    r.usage.input_tokens = *input;
    r.usage.output_tokens = *output;
    r.usage_source = UsageSource::kBody;
  }
}

// OpenAI-style `usage` (Mistral chat, AI21 Jamba, gpt-oss and the other chat-completion bodies).
void ParsePromptCompletionUsage(const json::value& b, ModelResponse& r) {
  const std::optional<int64_t> input = IntAt(b, {"usage", "prompt_tokens"});
  const std::optional<int64_t> output = IntAt(b, {"usage", "completion_tokens"});
  if (input && output) {
    r.usage.input_tokens = *input;
    r.usage.output_tokens = *output;
    r.usage_source = UsageSource::kBody;
  }
}

void ParseMistralText(const json::value& b, ModelResponse& r) {
  for (const json::value& output : *ArrayAt(b, {"outputs"})) {
    r.text.append(StringAt(output, {"text"}));
    if (r.stop_reason.empty()) SetStop(r, StringAt(output, {"stop_reason"}));
  }
}

void ParseChatCompletion(const json::value& b, ModelResponse& r) {
  for (const json::value& choice : *ArrayAt(b, {"choices"})) {
    r.text.append(StringAt(choice, {"message", "content"}));
    if (r.stop_reason.empty()) {
      std::string_view stop = StringAt(choice, {"finish_reason"});
      SetStop(r, stop.empty() ? StringAt(choice, {"stop_reason"}) : stop);
    }
  }
  ParsePromptCompletionUsage(b, r);
}

void ParseCohereUsage(const json::value& b, ModelResponse& r) {
  const std::optional<int64_t> input = IntAt(b, {"meta", "billed_units", "input_tokens"});
  const std::optional<int64_t> output = IntAt(b, {"meta", "billed_units", "output_tokens"});
  if (input && output) {
    r.usage.input_tokens = *input;
    r.usage.output_tokens = *output;
    r.usage_source = UsageSource::kBody;
  }
}

void ParseCohereCommand(const json::value& b, ModelResponse& r) {
  for (const json::value& generation : *ArrayAt(b, {"generations"})) {
    r.text.append(StringAt(generation, {"text"}));
    if (r.stop_reason.empty()) SetStop(r, StringAt(generation, {"finish_reason"}));
  }
  ParseCohereUsage(b, r);
}

void ParseCohereChat(const json::value& b, ModelResponse& r) {
  r.text = std::string(StringAt(b, {"text"}));
  SetStop(r, StringAt(b, {"finish_reason"}));
  ParseCohereUsage(b, r);
}

void ParseJurassic(const json::value& b, ModelResponse& r) {
  for (const json::value& completion : *ArrayAt(b, {"completions"})) {
    r.text.append(StringAt(completion, {"data", "text"}));
    if (r.stop_reason.empty()) SetStop(r, StringAt(completion, {"finishReason", "reason"}));
  }
}

// Recognises the body by the fields only its family uses, parses it, and returns the family.
ModelFamily ParseInvokeBody(const json::value& b, ModelResponse& r) {
  if (At(b, {"output", "message"}) != nullptr) {
    ParseNova(b, r);
    return ModelFamily::kAmazonNova;
  }
  if (ArrayAt(b, {"content"}) != nullptr) {
    ParseAnthropic(b, r);
    return ModelFamily::kAnthropic;
  }
  if (ArrayAt(b, {"results"}) != nullptr) {
    ParseTitan(b, r);
    return ModelFamily::kAmazonTitan;
  }
  if (At(b, {"generation"}) != nullptr) {
    ParseLlama(b, r);
    return ModelFamily::kMetaLlama;
  }
  if (ArrayAt(b, {"outputs"}) != nullptr) {
    ParseMistralText(b, r);
    return ModelFamily::kMistral;
  }
  if (ArrayAt(b, {"generations"}) != nullptr) {
    ParseCohereCommand(b, r);
    return ModelFamily::kCohere;
  }
  if (ArrayAt(b, {"completions"}) != nullptr) {
    ParseJurassic(b, r);
    return ModelFamily::kAi21;
  }
  if (ArrayAt(b, {"choices"}) != nullptr) {
    ParseChatCompletion(b, r);
    // Several families answer in this shape; the `model` field tells which, when it is there.
    const std::string_view model = StringAt(b, {"model"});
    if (model.starts_with("jamba")) return ModelFamily::kAi21;
    if (model.find("istral") != std::string_view::npos) return ModelFamily::kMistral;
    return ModelFamily::kOther;
  }
  if (At(b, {"text"}) != nullptr &&
      (At(b, {"finish_reason"}) != nullptr || At(b, {"generation_id"}) != nullptr)) {
    ParseCohereChat(b, r);
    return ModelFamily::kCohere;
  }
  return ModelFamily::kOther;
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kInvokeModel:
      return "InvokeModel";
    case Operation::kInvokeModelWithResponseStream:
      return "InvokeModelWithResponseStream";
    case Operation::kConverse:
      return "Converse";
    case Operation::kConverseStream:
      return "ConverseStream";
    case Operation::kCountTokens:
      return "CountTokens";
  }
  return "Unknown";
}

std::string_view OperationAction(Operation op) {
  switch (op) {
    case Operation::kInvokeModel:
      return "invoke";
    case Operation::kInvokeModelWithResponseStream:
      return "invoke-with-response-stream";
    case Operation::kConverse:
      return "converse";
    case Operation::kConverseStream:
      return "converse-stream";
    case Operation::kCountTokens:
      return "count-tokens";
  }
  return "";
}

bool IsStreaming(Operation op) {
  return op == Operation::kInvokeModelWithResponseStream || op == Operation::kConverseStream;
}

std::string ModelPath(std::string_view model_id, Operation op) {
  std::string path = "/model/";
  aws::AppendUriEncoded(path, model_id, /*encode_slash=*/true);
  return path.append("/").append(OperationAction(op));
}

Result<aws::HttpRequest> BuildInvokeModel(std::string_view endpoint, const InvokeModelRequest& r) {
  return BuildInvoke(endpoint, r, Operation::kInvokeModel);
}

Result<aws::HttpRequest> BuildInvokeModelWithResponseStream(std::string_view endpoint,
                                                            const InvokeModelRequest& r) {
  return BuildInvoke(endpoint, r, Operation::kInvokeModelWithResponseStream);
}

Result<aws::HttpRequest> BuildConverse(std::string_view endpoint, const ConverseRequest& r) {
  return BuildJson(endpoint, r.model_id, Operation::kConverse, r.body);
}

Result<aws::HttpRequest> BuildConverseStream(std::string_view endpoint, const ConverseRequest& r) {
  return BuildJson(endpoint, r.model_id, Operation::kConverseStream, r.body);
}

Result<aws::HttpRequest> BuildCountTokens(std::string_view endpoint, const CountTokensRequest& r) {
  json::object input;
  if (r.input == CountTokensRequest::Input::kInvokeModel) {
    input["invokeModel"] = json::object{{"body", Base64Encode(r.body)}};
  } else {
    Result<json::value> converse = internal::ParseObject(r.body, "CountTokens Converse body");
    if (!converse) return tl::unexpected(Error::InvalidArgument(converse.error().message));
    // CountTokens' ConverseTokensRequest has only these members; Bedrock rejects the others
    // (inferenceConfig, guardrailConfig, ...) that a Converse request may carry.
    static constexpr std::array<std::string_view, 4> kKept = {"messages", "system", "toolConfig",
                                                              "additionalModelRequestFields"};
    json::object kept;
    for (std::string_view key : kKept) {
      if (const json::value* v = converse->get_object().if_contains(key)) kept[key] = *v;
    }
    input["converse"] = std::move(kept);
  }
  return BuildJson(endpoint, r.model_id, Operation::kCountTokens,
                   json::serialize(json::object{{"input", std::move(input)}}));
}

StopReason NormalizeStopReason(std::string_view raw) {
  struct Entry {
    std::string_view raw;
    StopReason reason;
  };
  static constexpr std::array kTable = {
      Entry{"end_turn", StopReason::kEndTurn},
      Entry{"FINISH", StopReason::kEndTurn},
      Entry{"stop", StopReason::kEndTurn},
      Entry{"COMPLETE", StopReason::kEndTurn},
      Entry{"endoftext", StopReason::kEndTurn},
      Entry{"max_tokens", StopReason::kMaxTokens},
      Entry{"LENGTH", StopReason::kMaxTokens},
      Entry{"length", StopReason::kMaxTokens},
      Entry{"MAX_TOKENS", StopReason::kMaxTokens},
      Entry{"stop_sequence", StopReason::kStopSequence},
      Entry{"STOP_CRITERIA_MET", StopReason::kStopSequence},
      Entry{"tool_use", StopReason::kToolUse},
      Entry{"tool_calls", StopReason::kToolUse},
      Entry{"content_filtered", StopReason::kContentFiltered},
      Entry{"CONTENT_FILTERED", StopReason::kContentFiltered},
      Entry{"ERROR_TOXIC", StopReason::kContentFiltered},
      Entry{"guardrail_intervened", StopReason::kGuardrailIntervened},
      Entry{"model_context_window_exceeded", StopReason::kContextWindowExceeded},
  };
  if (raw.empty()) return StopReason::kUnknown;
  for (const Entry& e : kTable) {
    if (e.raw == raw) return e.reason;
  }
  return StopReason::kOther;
}

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kUnknown:
      return "unknown";
    case StopReason::kEndTurn:
      return "end_turn";
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kStopSequence:
      return "stop_sequence";
    case StopReason::kToolUse:
      return "tool_use";
    case StopReason::kContentFiltered:
      return "content_filtered";
    case StopReason::kGuardrailIntervened:
      return "guardrail_intervened";
    case StopReason::kContextWindowExceeded:
      return "model_context_window_exceeded";
    case StopReason::kOther:
      return "other";
  }
  return "unknown";
}

std::string_view UsageSourceName(UsageSource source) {
  switch (source) {
    case UsageSource::kNone:
      return "none";
    case UsageSource::kHeaders:
      return "headers";
    case UsageSource::kBody:
      return "body";
    case UsageSource::kStream:
      return "stream";
  }
  return "none";
}

std::optional<Usage> UsageFromHeaders(const aws::HttpHeaders& headers) {
  const std::optional<int64_t> input = HeaderInt(headers, "x-amzn-bedrock-input-token-count");
  if (!input) return std::nullopt;
  // Embedding models answer with the input count alone: they generate no tokens.
  const std::optional<int64_t> output = HeaderInt(headers, "x-amzn-bedrock-output-token-count");
  if (!output && aws::FindHeader(headers, "x-amzn-bedrock-output-token-count")) {
    return std::nullopt;  // present but not a count
  }
  Usage u;
  u.input_tokens = *input;
  u.output_tokens = output.value_or(0);
  u.cache_read_tokens =
      HeaderInt(headers, "x-amzn-bedrock-cache-read-input-token-count").value_or(0);
  u.cache_write_tokens =
      HeaderInt(headers, "x-amzn-bedrock-cache-write-input-token-count").value_or(0);
  return u;
}

std::optional<int64_t> LatencyFromHeaders(const aws::HttpHeaders& headers) {
  return HeaderInt(headers, "x-amzn-bedrock-invocation-latency");
}

Result<ModelResponse> ParseConverseResponse(const aws::HttpHeaders& headers,
                                            std::string_view body) {
  Result<json::value> parsed = internal::ParseObject(body, "Converse response");
  if (!parsed) return tl::unexpected(std::move(parsed.error()));
  const json::value& b = *parsed;
  ModelResponse r;
  r.request_id = RequestId(headers);
  AppendConverseText(ArrayAt(b, {"output", "message", "content"}), r.text);
  SetStop(r, StringAt(b, {"stopReason"}));
  r.latency_ms = IntAt(b, {"metrics", "latencyMs"});
  if (const json::value* usage = At(b, {"usage"}); usage != nullptr) {
    if (auto u = internal::ConverseUsage(*usage)) {
      r.usage = *u;
      r.usage_source = UsageSource::kBody;
    }
  }
  if (r.usage_source == UsageSource::kNone) {
    if (auto u = UsageFromHeaders(headers)) {
      r.usage = *u;
      r.usage_source = UsageSource::kHeaders;
    }
  }
  return r;
}

Result<ModelResponse> ParseInvokeModelResponse(const aws::HttpHeaders& headers,
                                               std::string_view body) {
  Result<json::value> parsed = internal::ParseObject(body, "InvokeModel response");
  if (!parsed) return tl::unexpected(std::move(parsed.error()));
  ModelResponse r;
  r.request_id = RequestId(headers);
  r.body_family = ParseInvokeBody(*parsed, r);
  r.latency_ms = LatencyFromHeaders(headers);
  if (std::optional<Usage> from_headers = UsageFromHeaders(headers)) {
    // The headers are what Bedrock counted; a body's cache counts fill in only for headers that
    // were not sent.
    if (!aws::FindHeader(headers, "x-amzn-bedrock-cache-read-input-token-count")) {
      from_headers->cache_read_tokens = r.usage.cache_read_tokens;
    }
    if (!aws::FindHeader(headers, "x-amzn-bedrock-cache-write-input-token-count")) {
      from_headers->cache_write_tokens = r.usage.cache_write_tokens;
    }
    r.usage = *from_headers;
    r.usage_source = UsageSource::kHeaders;
  }
  return r;
}

Result<int64_t> ParseCountTokensResponse(std::string_view body) {
  Result<json::value> parsed = internal::ParseObject(body, "CountTokens response");
  if (!parsed) return tl::unexpected(std::move(parsed.error()));
  const std::optional<int64_t> tokens = IntAt(*parsed, {"inputTokens"});
  if (!tokens || *tokens < 0) {
    return tl::unexpected(Error::Protocol("CountTokens response has no inputTokens count"));
  }
  return *tokens;
}

}  // namespace quotaflow::bedrock
