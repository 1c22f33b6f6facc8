#include "emulator/runtime_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "aws/eventstream.h"
#include "aws/uri.h"
#include "bedrock/base64.h"
#include "bedrock/model_body.h"
#include "emulator/inference_profiles.h"
#include "emulator/text_generator.h"
#include "emulator/tokenizer.h"
#include "emulator/wire.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using bedrock::Operation;

ApiError Validation(std::string message) {
  return ApiError{400, "ValidationException", std::move(message)};
}

ApiError MalformedInput(std::string_view detail) {
  return Validation("Malformed input request: " + std::string(detail) +
                    ", please reformat your input and try again.");
}

// Counts a request's input tokens in the order Bedrock caches a prompt (tools, system, messages),
// remembering the count and a hash at every cache checkpoint.
class InputCounter {
 public:
  void Text(std::string_view text) {
    tokens_ += CountTokens(text);
    hash_ = MixSeed(hash_, HashBytes(text));
  }
  // Base64 media: about one token per four encoded bytes.
  void Media(std::string_view encoded) {
    tokens_ += static_cast<int64_t>(encoded.size() / 4) + 1;
    hash_ = MixSeed(hash_, HashBytes(encoded));
  }
  void Overhead(int64_t tokens) { tokens_ += tokens; }
  void CachePoint() {
    checkpoint_tokens_ = tokens_;
    checkpoint_hash_ = hash_;
  }

  // Visits a JSON value: every string counts as text except identifiers and settings.
  void Visit(const json::value& v, std::string_view key) {
    switch (v.kind()) {
      case json::kind::string: {
        const std::string_view s(v.get_string().data(), v.get_string().size());
        if (key == "bytes" || key == "data") {
          Media(s);
        } else if (!IsSetting(key)) {
          Text(s);
        }
        break;
      }
      case json::kind::array:
        for (const json::value& item : v.get_array()) {
          if (key == "messages") Overhead(3);  // role markers around each turn
          Visit(item, key);
        }
        break;
      case json::kind::object: {
        bool checkpoint_after = false;
        for (const auto& [k, child] : v.get_object()) {
          const std::string_view name(k.data(), k.size());
          if (name == "cachePoint") {
            CachePoint();
          } else if (name == "cache_control") {
            checkpoint_after = true;  // Anthropic: the marked block ends the cached prefix
          } else {
            Visit(child, name);
          }
        }
        if (checkpoint_after) CachePoint();
        break;
      }
      default:
        break;  // numbers, booleans and null are settings, not prompt
    }
  }

  // Visits a request body's prompt parts in cache order, then everything else that is prompt.
  void VisitRequest(const json::object& body) {
    static constexpr std::string_view kOrdered[] = {"toolConfig", "tools", "system", "messages"};
    for (std::string_view key : kOrdered) {
      if (const json::value* v = body.if_contains(key)) Visit(*v, key);
    }
    for (const auto& [k, child] : body) {
      const std::string_view name(k.data(), k.size());
      if (std::find(std::begin(kOrdered), std::end(kOrdered), name) != std::end(kOrdered)) continue;
      if (IsSetting(name)) continue;
      Visit(child, name);
    }
  }

  int64_t tokens() const { return tokens_; }
  int64_t checkpoint_tokens() const { return checkpoint_tokens_; }
  uint64_t checkpoint_hash() const { return checkpoint_hash_; }

 private:
  static bool IsSetting(std::string_view key) {
    static constexpr std::string_view kSettings[] = {"anthropic_version",
                                                     "anthropic_beta",
                                                     "role",
                                                     "type",
                                                     "format",
                                                     "toolUseId",
                                                     "tool_use_id",
                                                     "id",
                                                     "status",
                                                     "model",
                                                     "inferenceConfig",
                                                     "textGenerationConfig",
                                                     "additionalModelResponseFieldPaths",
                                                     "requestMetadata",
                                                     "performanceConfig",
                                                     "guardrailConfig",
                                                     "serviceTier",
                                                     "stop_sequences",
                                                     "stop",
                                                     "ttl",
                                                     "media_type"};
    return std::find(std::begin(kSettings), std::end(kSettings), key) != std::end(kSettings);
  }

  int64_t tokens_ = 0;
  uint64_t hash_ = 0x51ed270b1d1c9a3fULL;
  int64_t checkpoint_tokens_ = 0;
  uint64_t checkpoint_hash_ = 0;
};

std::string MaxTokensTooHigh(int64_t limit) {
  const std::string n = std::to_string(limit);
  return "The maximum tokens you requested exceeds the model limit of " + n +
         ". Try again with a maximum tokens value that is lower than " + n + ".";
}

// Converse-shaped checks Bedrock makes before the model sees the request.
std::optional<ApiError> ValidateConverse(const json::object& body) {
  const json::value* messages = body.if_contains("messages");
  if (messages == nullptr || messages->is_null()) {
    return Validation(
        "1 validation error detected: Value null at 'messages' failed to satisfy constraint: "
        "Member must not be null");
  }
  const json::array* list = messages->if_array();
  if (list == nullptr) return Validation("The messages field must be a list of Message objects.");
  // Recent models accept a history that opens with an assistant turn; an empty one never works.
  if (list->empty()) {
    return Validation(
        "A conversation must start with a user message. Try again with a conversation that starts "
        "with a user message.");
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const json::object* message = (*list)[i].if_object();
    const json::value* content = message == nullptr ? nullptr : message->if_contains("content");
    if (content == nullptr || !content->is_array() || content->get_array().empty()) {
      return Validation("The content field in the Message object at messages." + std::to_string(i) +
                        " is empty. Add a ContentBlock object to the content field and try again.");
    }
  }
  return std::nullopt;
}

// Anthropic's Messages body has required keys, which Bedrock reports in its JSON-schema wording.
std::optional<ApiError> ValidateAnthropicBody(const json::object& body) {
  for (std::string_view key : {"anthropic_version", "max_tokens", "messages"}) {
    if (body.if_contains(key) == nullptr) {
      return MalformedInput("#: required key [" + std::string(key) + "] not found");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> CheckLimits(const Invocation& inv) {
  const bedrock::ModelInfo& model = *inv.resolved.model;
  if (inv.max_tokens && *inv.max_tokens > model.max_output_tokens) {
    return Validation(MaxTokensTooHigh(model.max_output_tokens));
  }
  if (inv.input_tokens > model.context_window) {
    if (model.family == ModelFamily::kAnthropic) {
      return Validation("The model returned the following errors: prompt is too long: " +
                        std::to_string(inv.input_tokens) + " tokens > " +
                        std::to_string(model.context_window) + " maximum");
    }
    return Validation("Input is too long for requested model.");
  }
  if (model.family == ModelFamily::kAnthropic && inv.max_tokens &&
      inv.input_tokens + *inv.max_tokens > model.context_window) {
    return Validation(
        "The model returned the following errors: input length and `max_tokens` exceed context "
        "limit: " +
        std::to_string(inv.input_tokens) + " + " + std::to_string(*inv.max_tokens) + " > " +
        std::to_string(model.context_window) +
        ", decrease input length or `max_tokens` and try again");
  }
  return std::nullopt;
}

// body[outer][inner] as a string; empty when absent.
std::string_view StringAt(const json::object& body, std::string_view outer,
                          std::string_view inner) {
  const json::value* o = body.if_contains(outer);
  const json::value* v =
      o != nullptr && o->is_object() ? o->get_object().if_contains(inner) : nullptr;
  if (v == nullptr || !v->is_string()) return {};
  return {v->get_string().data(), v->get_string().size()};
}

Result<json::object> ParseBody(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return tl::unexpected(Error::Protocol("not a JSON object"));
  return std::move(v.get_object());
}

// Measures a Converse-shaped request (Converse, ConverseStream, CountTokens' converse input).
tl::expected<void, ApiError> MeasureConverse(const json::object& body, Invocation& inv) {
  if (std::optional<ApiError> error = ValidateConverse(body)) return tl::unexpected(*error);
  InputCounter counter;
  counter.VisitRequest(body);
  inv.input_tokens = counter.tokens();
  if (counter.checkpoint_tokens() >= kMinCacheablePrefixTokens) {
    inv.cache_prefix_tokens = counter.checkpoint_tokens();
    inv.cache_prefix_hash = counter.checkpoint_hash();
  }
  inv.performance_latency = std::string(StringAt(body, "performanceConfig", "latency"));
  inv.service_tier = std::string(StringAt(body, "serviceTier", "type"));
  if (const json::value* config = body.if_contains("inferenceConfig")) {
    if (const json::value* max =
            config->is_object() ? config->get_object().if_contains("maxTokens") : nullptr) {
      const int64_t value = max->is_int64() ? max->get_int64() : 0;
      if (!max->is_int64() || value < 1) {
        return tl::unexpected(Validation("1 validation error detected: Value '" +
                                         json::serialize(*max) +
                                         "' at 'inferenceConfig.maxTokens' failed to satisfy "
                                         "constraint: Member must have value greater than or "
                                         "equal to 1"));
      }
      inv.max_tokens = value;
    }
  }
  return {};
}

// Measures a native InvokeModel body of the model's family.
tl::expected<void, ApiError> MeasureNative(std::string_view text, Invocation& inv) {
  Result<json::object> body = ParseBody(text);
  if (!body) return tl::unexpected(MalformedInput("#: expected type: JSONObject"));
  const ModelFamily family = inv.resolved.model->family;
  if (family == ModelFamily::kAnthropic) {
    if (std::optional<ApiError> error = ValidateAnthropicBody(*body)) {
      return tl::unexpected(*error);
    }
  }
  Result<std::optional<int64_t>> max = bedrock::ReadMaxTokens(family, text);
  if (!max) return tl::unexpected(MalformedInput("#: " + max.error().message));
  inv.max_tokens = *max;
  InputCounter counter;
  counter.VisitRequest(*body);
  inv.input_tokens = counter.tokens();
  if (counter.checkpoint_tokens() >= kMinCacheablePrefixTokens) {
    inv.cache_prefix_tokens = counter.checkpoint_tokens();
    inv.cache_prefix_hash = counter.checkpoint_hash();
  }
  return {};
}

// Whether a Converse request carries a `document` content block in any message.
bool HasDocumentBlock(const json::object& converse) {
  const json::value* messages = converse.if_contains("messages");
  if (messages == nullptr || !messages->is_array()) return false;
  for (const json::value& message : messages->get_array()) {
    const json::value* content =
        message.is_object() ? message.get_object().if_contains("content") : nullptr;
    if (content == nullptr || !content->is_array()) continue;
    for (const json::value& block : content->get_array()) {
      if (block.is_object() && block.get_object().contains("document")) return true;
    }
  }
  return false;
}

// CountTokens wraps the request it measures.
tl::expected<void, ApiError> MeasureCountTokens(std::string_view text, Invocation& inv) {
  Result<json::object> body = ParseBody(text);
  const json::value* input = body ? body->if_contains("input") : nullptr;
  const json::object* wrapper = input == nullptr ? nullptr : input->if_object();
  if (wrapper == nullptr || wrapper->size() != 1) {
    return tl::unexpected(Validation(
        "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member "
        "must not be null"));
  }
  if (const json::value* converse = wrapper->if_contains("converse")) {
    if (!converse->is_object())
      return tl::unexpected(Validation("input.converse must be an object"));
    // Bedrock counts text, not documents (aws/aws-sdk-java-v2#6370, a feature request still).
    if (HasDocumentBlock(converse->get_object())) {
      return tl::unexpected(Validation("Document input not supported for token counting"));
    }
    return MeasureConverse(converse->get_object(), inv);
  }
  if (const json::value* invoke = wrapper->if_contains("invokeModel")) {
    const json::value* encoded =
        invoke->is_object() ? invoke->get_object().if_contains("body") : nullptr;
    std::optional<std::string> decoded;
    if (encoded != nullptr && encoded->is_string()) {
      decoded = bedrock::Base64Decode(
          std::string_view(encoded->get_string().data(), encoded->get_string().size()));
    }
    if (!decoded) {
      return tl::unexpected(Validation("input.invokeModel.body must be a base64-encoded body"));
    }
    return MeasureNative(*decoded, inv);
  }
  return tl::unexpected(Validation("input must be one of converse or invokeModel"));
}

// --- response bodies ---

std::string StopReasonFor(ModelFamily family, bool max_tokens_reached) {
  switch (family) {
    case ModelFamily::kAmazonTitan:
      return max_tokens_reached ? "LENGTH" : "FINISH";
    case ModelFamily::kMetaLlama:
    case ModelFamily::kMistral:
    case ModelFamily::kAi21:
    case ModelFamily::kOther:
      return max_tokens_reached ? "length" : "stop";
    case ModelFamily::kCohere:
      return max_tokens_reached ? "MAX_TOKENS" : "COMPLETE";
    case ModelFamily::kAnthropic:
    case ModelFamily::kAmazonNova:
      break;
  }
  return max_tokens_reached ? "max_tokens" : "end_turn";
}

bool CachingFamily(const Invocation& inv) {
  const ModelFamily family = inv.resolved.model->family;
  return family == ModelFamily::kAnthropic || family == ModelFamily::kAmazonNova;
}

// Converse `usage` as recent Bedrock sends it: models with prompt caching report both spellings
// of the cache counts even when 0, writes are broken down by TTL, and serverToolUsage is there.
json::object ConverseUsage(const Invocation& inv, const Generation& g) {
  json::object usage;
  usage["inputTokens"] = g.input_tokens;
  usage["outputTokens"] = g.output_tokens;
  usage["totalTokens"] =
      g.input_tokens + g.output_tokens + g.cache_read_input_tokens + g.cache_write_input_tokens;
  if (CachingFamily(inv) || g.cache_read_input_tokens > 0 || g.cache_write_input_tokens > 0) {
    usage["cacheReadInputTokens"] = g.cache_read_input_tokens;
    usage["cacheWriteInputTokens"] = g.cache_write_input_tokens;
    usage["cacheReadInputTokenCount"] = g.cache_read_input_tokens;
    usage["cacheWriteInputTokenCount"] = g.cache_write_input_tokens;
  }
  if (g.cache_write_input_tokens > 0) {
    usage["cacheDetails"] =
        json::array{json::object{{"inputTokens", g.cache_write_input_tokens}, {"ttl", "5m"}}};
  }
  usage["serverToolUsage"] = json::object();
  return usage;
}

// Converse's (and Nova's) `output`: one assistant message with one text block.
json::object AssistantOutput(std::string_view text) {
  json::object message;
  message["content"] = json::array{json::object{{"text", text}}};
  message["role"] = "assistant";
  return json::object{{"message", std::move(message)}};
}

json::object InvocationMetrics(const Invocation& inv, const Generation& g) {
  json::object m;
  m["inputTokenCount"] = g.input_tokens;
  m["outputTokenCount"] = g.output_tokens;
  m["invocationLatency"] = g.latency_ms;
  m["firstByteLatency"] = g.first_byte_latency_ms;
  if (AlwaysSendsCacheCounts(inv) || g.cache_read_input_tokens > 0 ||
      g.cache_write_input_tokens > 0) {
    m["cacheReadInputTokenCount"] = g.cache_read_input_tokens;
    m["cacheWriteInputTokenCount"] = g.cache_write_input_tokens;
  }
  return m;
}

// An id of the form the provider uses ("msg_bdrk_01...", "chatcmpl-..."), derived from the text.
std::string MessageId(std::string_view prefix, const Generation& g) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghijkmnopqrstuvwxyz";
  SplitMix64 rng(HashBytes(g.text) ^ static_cast<uint64_t>(g.output_tokens));
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id.push_back(kAlphabet[rng.Below(sizeof(kAlphabet) - 1)]);
  return id;
}

// The model name Anthropic's bodies carry: "claude-3-5-sonnet-20240620" from the base id.
std::string AnthropicModelName(const bedrock::ModelInfo& model) {
  std::string_view id = model.id;
  if (id.starts_with("anthropic.")) id.remove_prefix(10);
  if (const size_t dash = id.rfind("-v"); dash != std::string_view::npos) id = id.substr(0, dash);
  return std::string(id);
}

json::object ChatCompletion(const Invocation& inv, const Generation& g) {
  json::object body;
  body["id"] = MessageId("chatcmpl-", g);
  body["object"] = "chat.completion";
  body["model"] = inv.resolved.model->id;
  json::object message;
  message["role"] = "assistant";
  message["content"] = g.text;
  json::object choice;
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["finish_reason"] = StopReasonFor(inv.resolved.model->family, g.max_tokens_reached);
  body["choices"] = json::array{std::move(choice)};
  json::object usage;
  usage["prompt_tokens"] = g.input_tokens;
  usage["completion_tokens"] = g.output_tokens;
  usage["total_tokens"] = g.input_tokens + g.output_tokens;
  body["usage"] = std::move(usage);
  return body;
}

json::object NativeBody(const Invocation& inv, const Generation& g) {
  const bedrock::ModelInfo& model = *inv.resolved.model;
  const std::string stop = StopReasonFor(model.family, g.max_tokens_reached);
  json::object body;
  switch (model.family) {
    case ModelFamily::kAnthropic: {
      body["id"] = MessageId("msg_bdrk_", g);
      body["type"] = "message";
      body["role"] = "assistant";
      body["model"] = AnthropicModelName(model);
      json::object block;
      block["type"] = "text";
      block["text"] = g.text;
      body["content"] = json::array{std::move(block)};
      body["stop_reason"] = stop;
      body["stop_sequence"] = nullptr;
      json::object usage;
      usage["input_tokens"] = g.input_tokens;
      usage["cache_creation_input_tokens"] = g.cache_write_input_tokens;
      usage["cache_read_input_tokens"] = g.cache_read_input_tokens;
      usage["output_tokens"] = g.output_tokens;
      body["usage"] = std::move(usage);
      return body;
    }
    case ModelFamily::kAmazonNova: {
      body["output"] = AssistantOutput(g.text);
      body["stopReason"] = stop;
      json::object usage;
      usage["inputTokens"] = g.input_tokens;
      usage["outputTokens"] = g.output_tokens;
      usage["totalTokens"] = g.input_tokens + g.output_tokens;
      usage["cacheReadInputTokenCount"] = g.cache_read_input_tokens;
      usage["cacheWriteInputTokenCount"] = g.cache_write_input_tokens;
      body["usage"] = std::move(usage);
      return body;
    }
    case ModelFamily::kAmazonTitan: {
      body["inputTextTokenCount"] = g.input_tokens;
      json::object result;
      result["tokenCount"] = g.output_tokens;
      result["outputText"] = g.text;
      result["completionReason"] = stop;
      body["results"] = json::array{std::move(result)};
      return body;
    }
    case ModelFamily::kMetaLlama:
      body["generation"] = g.text;
      body["prompt_token_count"] = g.input_tokens;
      body["generation_token_count"] = g.output_tokens;
      body["stop_reason"] = stop;
      return body;
    case ModelFamily::kMistral: {
      json::object output;
      output["text"] = g.text;
      output["stop_reason"] = stop;
      body["outputs"] = json::array{std::move(output)};
      return body;
    }
    case ModelFamily::kCohere: {
      if (model.id.starts_with("cohere.command-text") ||
          model.id.starts_with("cohere.command-light")) {  // the legacy Command body
        body["id"] = MessageId("", g);
        json::object generation;
        generation["id"] = MessageId("gen-", g);
        generation["text"] = g.text;
        generation["finish_reason"] = stop;
        body["generations"] = json::array{std::move(generation)};
        body["prompt"] = "";
        return body;
      }
      body["response_id"] = MessageId("", g);
      body["text"] = g.text;
      body["generation_id"] = MessageId("gen-", g);
      body["finish_reason"] = stop;
      json::object billed;
      billed["input_tokens"] = g.input_tokens;
      billed["output_tokens"] = g.output_tokens;
      json::object meta;
      meta["billed_units"] = std::move(billed);
      body["meta"] = std::move(meta);
      return body;
    }
    case ModelFamily::kAi21: {
      // Jamba: a chat completion with its own extras and its short model name.
      body = ChatCompletion(inv, g);
      body.erase("object");
      std::string name(model.id.substr(model.id.find('.') + 1));
      name = name.substr(0, name.rfind("-v"));
      if (const size_t dash = name.find("-1-5"); dash != std::string::npos) {
        name.replace(dash, 4, "-1.5");
      }
      body["model"] = name;
      body["choices"].as_array()[0].as_object()["message"].as_object()["tool_calls"] = nullptr;
      body["meta"] = json::object{{"requestDurationMillis", g.latency_ms}};
      return body;
    }
    case ModelFamily::kOther:
      break;
  }
  return ChatCompletion(inv, g);
}

// --- event streams ---

// Real Bedrock pads every event with "p" so that lengths do not leak content; clients must
// ignore it. Its length varies with the event.
std::string Padding(size_t n) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return std::string(kAlphabet.substr(0, 1 + n % (kAlphabet.size() - 1)));
}

std::string EventFrame(std::string_view event_type, std::string payload) {
  aws::EventStreamMessage message;
  message.headers.push_back({":event-type", std::string(event_type)});
  message.headers.push_back({":content-type", std::string("application/json")});
  message.headers.push_back({":message-type", std::string("event")});
  message.payload = std::move(payload);
  Result<std::string> frame = aws::EncodeEventStreamMessage(message);
  return frame ? std::move(*frame) : std::string();  // our own small frames always encode
}

std::string JsonEvent(std::string_view event_type, json::object payload, size_t pad_seed) {
  payload["p"] = Padding(pad_seed);
  return EventFrame(event_type, json::serialize(payload));
}

// Cuts the output into deltas of `per_delta` tokens: (text, tokens before it) pairs.
std::vector<std::pair<std::string_view, int64_t>> Deltas(const Generation& g, int64_t per_delta) {
  std::vector<std::pair<std::string_view, int64_t>> deltas;
  per_delta = std::max<int64_t>(per_delta, 1);
  uint32_t begin = 0;
  const auto tokens = static_cast<int64_t>(g.token_ends.size());
  for (int64_t i = 0; i < tokens; i += per_delta) {
    const int64_t last = std::min(i + per_delta, tokens) - 1;
    const uint32_t end = g.token_ends[static_cast<size_t>(last)];
    deltas.emplace_back(std::string_view{g.text}.substr(begin, end - begin), i);
    begin = end;
  }
  return deltas;
}

std::string Chunk(const json::object& native, size_t pad_seed) {
  json::object chunk;
  chunk["bytes"] = bedrock::Base64Encode(json::serialize(native));
  return JsonEvent("chunk", std::move(chunk), pad_seed);
}

}  // namespace

std::optional<std::pair<Operation, std::string>> ParseRuntimePath(std::string_view target) {
  constexpr std::string_view kPrefix = "/model/";
  if (const size_t query = target.find('?'); query != std::string_view::npos) {
    target = target.substr(0, query);
  }
  if (!target.starts_with(kPrefix)) return std::nullopt;
  target.remove_prefix(kPrefix.size());
  const size_t slash = target.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view action = target.substr(slash + 1);
  for (Operation op : {Operation::kInvokeModel, Operation::kInvokeModelWithResponseStream,
                       Operation::kConverse, Operation::kConverseStream, Operation::kCountTokens}) {
    if (bedrock::OperationAction(op) == action) {
      return std::make_pair(op, aws::UriDecode(target.substr(0, slash)));
    }
  }
  return std::nullopt;
}

tl::expected<Invocation, ApiError> ParseInvocation(Operation op, std::string model_id,
                                                   std::string_view body, std::string_view region,
                                                   const bedrock::ModelCatalog& catalog,
                                                   const ApplicationProfiles& applications) {
  Invocation inv;
  inv.op = op;
  inv.model_id = std::move(model_id);
  if (inv.model_id.empty() || inv.model_id.size() > 2048) {
    return tl::unexpected(Validation("The provided model identifier is invalid."));
  }
  Result<bedrock::ResolvedModel> resolved = catalog.Resolve(inv.model_id);
  const bool foundation_model = resolved && resolved->profile.empty();
  if (!resolved) {
    if (const ApplicationProfile* application = applications.Find(inv.model_id, region)) {
      resolved = application->source;  // ApplicationProfiles::Create checked it serves `region`
    }
  }
  if (!resolved ||
      (!resolved->profile.empty() && !ProfileServesRegion(resolved->profile, region))) {
    return tl::unexpected(Validation("The provided model identifier is invalid."));
  }
  inv.resolved = *resolved;
  // CountTokens takes a foundation model, bare id or ARN, of the few that count (models.json).
  if (op == Operation::kCountTokens && !foundation_model) {
    return tl::unexpected(Validation("The provided model identifier is invalid."));
  }
  if (op == Operation::kCountTokens && !inv.resolved.model->count_tokens) {
    return tl::unexpected(Validation("The provided model doesn't support counting tokens."));
  }
  if (op != Operation::kCountTokens && !inv.resolved.OnDemandAllowed()) {
    return tl::unexpected(Validation(
        "Invocation of model ID " + inv.resolved.model->id +
        " with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of "
        "an inference profile that contains this model."));
  }
  inv.content_hash = HashBytes(body);
  tl::expected<void, ApiError> measured;
  switch (op) {
    case Operation::kConverse:
    case Operation::kConverseStream: {
      Result<json::object> parsed = ParseBody(body);
      if (!parsed) {
        return tl::unexpected(ApiError{400, "ValidationException",
                                       "Malformed request body: expected a JSON object."});
      }
      measured = MeasureConverse(*parsed, inv);
      break;
    }
    case Operation::kInvokeModel:
    case Operation::kInvokeModelWithResponseStream:
      measured = MeasureNative(body, inv);
      break;
    case Operation::kCountTokens:
      measured = MeasureCountTokens(body, inv);
      break;
  }
  if (!measured) return tl::unexpected(measured.error());
  inv.output_cap = bedrock::ReservedOutputTokens(*inv.resolved.model, inv.max_tokens);
  if (std::optional<ApiError> error = CheckLimits(inv)) return tl::unexpected(*error);
  return inv;
}

std::pair<int64_t, bool> DrawOutputTokens(const OutputLengthOptions& options, uint64_t seed,
                                          int64_t cap) {
  SplitMix64 rng(seed);
  int64_t draw = options.mean;
  switch (options.distribution) {
    case OutputLengthOptions::Distribution::kFixed:
      break;
    case OutputLengthOptions::Distribution::kUniform: {
      const int64_t span = std::max<int64_t>(options.max - options.min, 0) + 1;
      draw = options.min + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(span)));
      break;
    }
    case OutputLengthOptions::Distribution::kNormal: {
      const double x = static_cast<double>(options.mean) +
                       static_cast<double>(options.stddev) * rng.NextNormal();
      draw = std::clamp(static_cast<int64_t>(std::llround(x)), options.min, options.max);
      break;
    }
  }
  draw = std::max<int64_t>(draw, 1);
  if (draw > cap) return {cap, true};
  return {draw, false};
}

bool AlwaysSendsCacheCounts(const Invocation& inv) {
  return inv.resolved.model->family == ModelFamily::kAmazonNova;
}

std::string ConverseResponseBody(const Invocation& inv, const Generation& g) {
  json::object body;
  json::object metrics;
  metrics["latencyMs"] = g.latency_ms;
  body["metrics"] = std::move(metrics);
  body["output"] = AssistantOutput(g.text);
  body["stopReason"] = g.max_tokens_reached ? "max_tokens" : "end_turn";
  body["usage"] = ConverseUsage(inv, g);
  if (!inv.performance_latency.empty()) {
    body["performanceConfig"] = json::object{{"latency", inv.performance_latency}};
  }
  if (!inv.service_tier.empty()) body["serviceTier"] = json::object{{"type", inv.service_tier}};
  return json::serialize(body);
}

std::string InvokeResponseBody(const Invocation& inv, const Generation& g) {
  return json::serialize(NativeBody(inv, g));
}

Result<int64_t> ConverseInputTokens(std::string_view model_id, std::string_view body) {
  auto inv = ParseInvocation(Operation::kConverse, std::string(model_id), body, "us-east-1",
                             bedrock::ModelCatalog::Default(), ApplicationProfiles{});
  if (!inv) return tl::unexpected(Error::InvalidArgument(inv.error().message));
  return inv->input_tokens;
}

std::string CountTokensResponseBody(int64_t input_tokens) {
  return "{\"inputTokens\":" + std::to_string(input_tokens) + "}";
}

std::vector<StreamFrame> ConverseStreamFrames(const Invocation& inv, const Generation& g,
                                              int64_t tokens_per_delta) {
  std::vector<StreamFrame> frames;
  size_t pad = g.text.size();
  frames.push_back({JsonEvent("messageStart", json::object{{"role", "assistant"}}, pad++), 0});
  for (const auto& [text, before] : Deltas(g, tokens_per_delta)) {
    json::object delta;
    delta["contentBlockIndex"] = 0;
    delta["delta"] = json::object{{"text", text}};
    frames.push_back({JsonEvent("contentBlockDelta", std::move(delta), pad++), before});
  }
  const int64_t all = g.output_tokens;
  frames.push_back(
      {JsonEvent("contentBlockStop", json::object{{"contentBlockIndex", 0}}, pad++), all});
  frames.push_back(
      {JsonEvent("messageStop",
                 json::object{{"stopReason", g.max_tokens_reached ? "max_tokens" : "end_turn"}},
                 pad++),
       all});
  json::object metadata;
  metadata["usage"] = ConverseUsage(inv, g);
  metadata["metrics"] = json::object{{"latencyMs", g.latency_ms}};
  if (!inv.performance_latency.empty()) {
    metadata["performanceConfig"] = json::object{{"latency", inv.performance_latency}};
  }
  if (!inv.service_tier.empty()) {
    metadata["serviceTier"] = json::object{{"type", inv.service_tier}};
  }
  frames.push_back({JsonEvent("metadata", std::move(metadata), pad), all});
  return frames;
}

std::vector<StreamFrame> InvokeStreamFrames(const Invocation& inv, const Generation& g,
                                            int64_t tokens_per_delta) {
  const bedrock::ModelInfo& model = *inv.resolved.model;
  const std::string stop = StopReasonFor(model.family, g.max_tokens_reached);
  const auto deltas = Deltas(g, tokens_per_delta);
  const int64_t all = g.output_tokens;
  std::vector<StreamFrame> frames;
  size_t pad = g.text.size();
  auto add = [&](const json::object& native, int64_t before) {
    frames.push_back({Chunk(native, pad++), before});
  };
  switch (model.family) {
    case ModelFamily::kAnthropic: {
      json::object usage;
      usage["input_tokens"] = g.input_tokens;
      usage["cache_creation_input_tokens"] = g.cache_write_input_tokens;
      usage["cache_read_input_tokens"] = g.cache_read_input_tokens;
      usage["output_tokens"] = 1;
      json::object message;
      message["id"] = MessageId("msg_bdrk_", g);
      message["type"] = "message";
      message["role"] = "assistant";
      message["model"] = AnthropicModelName(model);
      message["content"] = json::array();
      message["stop_reason"] = nullptr;
      message["stop_sequence"] = nullptr;
      message["usage"] = std::move(usage);
      add({{"type", "message_start"}, {"message", std::move(message)}}, 0);
      add({{"type", "content_block_start"},
           {"index", 0},
           {"content_block", json::object{{"type", "text"}, {"text", ""}}}},
          0);
      for (const auto& [text, before] : deltas) {
        add({{"type", "content_block_delta"},
             {"index", 0},
             {"delta", json::object{{"type", "text_delta"}, {"text", text}}}},
            before);
      }
      add({{"type", "content_block_stop"}, {"index", 0}}, all);
      add({{"type", "message_delta"},
           {"delta", json::object{{"stop_reason", stop}, {"stop_sequence", nullptr}}},
           {"usage", json::object{{"output_tokens", g.output_tokens}}}},
          all);
      add({{"type", "message_stop"},
           {"amazon-bedrock-invocationMetrics", InvocationMetrics(inv, g)}},
          all);
      break;
    }
    case ModelFamily::kAmazonNova: {
      // Nova's native stream closes a content block after every delta and opens the next.
      add({{"messageStart", json::object{{"role", "assistant"}}}}, 0);
      int64_t index = 0;
      for (const auto& [text, before] : deltas) {
        add({{"contentBlockDelta",
              json::object{{"delta", json::object{{"text", text}}}, {"contentBlockIndex", index}}}},
            before);
        add({{"contentBlockStop", json::object{{"contentBlockIndex", index}}}}, before);
        ++index;
      }
      add({{"messageStop", json::object{{"stopReason", stop}}}}, all);
      json::object usage;
      usage["inputTokens"] = g.input_tokens;
      usage["outputTokens"] = g.output_tokens;
      usage["cacheReadInputTokenCount"] = g.cache_read_input_tokens;
      usage["cacheWriteInputTokenCount"] = g.cache_write_input_tokens;
      add({{"metadata", json::object{{"usage", std::move(usage)},
                                     {"metrics", json::object()},
                                     {"trace", json::object()}}},
           {"amazon-bedrock-invocationMetrics", InvocationMetrics(inv, g)}},
          all);
      break;
    }
    case ModelFamily::kAmazonTitan:
    case ModelFamily::kMetaLlama:
    case ModelFamily::kMistral:
    case ModelFamily::kCohere:
    case ModelFamily::kAi21:
    case ModelFamily::kOther: {
      // One native partial per delta; the last one carries the stop reason, the totals and the
      // invocation metrics (an empty final delta when the output was empty).
      std::vector<std::pair<std::string_view, int64_t>> parts = deltas;
      if (parts.empty()) parts.emplace_back(std::string_view(), 0);
      for (size_t i = 0; i < parts.size(); ++i) {
        const bool first = i == 0;
        const bool last = i + 1 == parts.size();
        const auto& [text, before] = parts[i];
        json::object native;
        switch (model.family) {
          case ModelFamily::kAmazonTitan:
            native["outputText"] = text;
            native["index"] = 0;
            native["totalOutputTextTokenCount"] = last ? json::value(g.output_tokens) : nullptr;
            native["completionReason"] = last ? json::value(stop) : nullptr;
            native["inputTextTokenCount"] = first ? json::value(g.input_tokens) : nullptr;
            break;
          case ModelFamily::kMetaLlama:
            native["generation"] = text;
            native["prompt_token_count"] = first ? json::value(g.input_tokens) : nullptr;
            native["generation_token_count"] =
                last ? g.output_tokens : std::min(all, before + tokens_per_delta);
            native["stop_reason"] = last ? json::value(stop) : nullptr;
            break;
          case ModelFamily::kMistral:
            native["outputs"] = json::array{
                json::object{{"text", text}, {"stop_reason", last ? json::value(stop) : nullptr}}};
            break;
          case ModelFamily::kCohere:
            native["is_finished"] = false;
            native["event_type"] = "text-generation";
            native["text"] = text;
            break;
          default: {
            json::object choice;
            choice["index"] = 0;
            choice["delta"] = json::object{{"content", text}};
            choice["finish_reason"] = last ? json::value(stop) : nullptr;
            native["id"] = MessageId("chatcmpl-", g);
            native["object"] = "chat.completion.chunk";
            native["choices"] = json::array{std::move(choice)};
            break;
          }
        }
        if (last && model.family == ModelFamily::kCohere) {
          add(native, before);
          native = json::object{
              {"is_finished", true}, {"event_type", "stream-end"}, {"finish_reason", stop}};
        }
        if (last) native["amazon-bedrock-invocationMetrics"] = InvocationMetrics(inv, g);
        add(native, last ? all : before);
      }
      break;
    }
  }
  return frames;
}

std::string ExceptionFrame(std::string_view exception_type, std::string_view message) {
  aws::EventStreamMessage frame;
  frame.headers.push_back({":exception-type", std::string(exception_type)});
  frame.headers.push_back({":content-type", std::string("application/json")});
  frame.headers.push_back({":message-type", std::string("exception")});
  frame.payload = "{\"message\":" + JsonQuote(message) + "}";
  Result<std::string> bytes = aws::EncodeEventStreamMessage(frame);
  return bytes ? std::move(*bytes) : std::string();
}

}  // namespace quotaflow::emulator
