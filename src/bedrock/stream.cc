#include "bedrock/stream.h"

#include <algorithm>
#include <array>
#include <utility>

#include "aws/errors.h"
#include "bedrock/base64.h"
#include "bedrock/json_util.h"

namespace quotaflow::bedrock {
namespace {

using internal::ArrayAt;
using internal::At;
using internal::IntAt;
namespace json = boost::json;
using internal::StringAt;

constexpr std::string_view kInvocationMetrics = "amazon-bedrock-invocationMetrics";

// The Converse event members, which Nova also uses as the single key of its native events.
constexpr std::array<std::string_view, 6> kConverseEvents = {
    "messageStart",     "contentBlockStart", "contentBlockDelta",
    "contentBlockStop", "messageStop",       "metadata"};

int BlockIndex(const json::value& e, std::string_view key) {
  return static_cast<int>(IntAt(e, {key}).value_or(-1));
}

// Fills `out` from a Converse-shaped event `e` of member `type` (ConverseStream frames, and the
// single-key native events of Nova's InvokeModelWithResponseStream).
void ConverseEvent(std::string_view type, const json::value& e, StreamEvent& out) {
  out.event_type = std::string(type);
  if (type == "messageStart") {
    out.type = StreamEventType::kMessageStart;
  } else if (type == "contentBlockStart") {
    out.type = StreamEventType::kContentBlockStart;
    out.content_block_index = BlockIndex(e, "contentBlockIndex");
    out.tool_use_id = std::string(StringAt(e, {"start", "toolUse", "toolUseId"}));
    out.tool_name = std::string(StringAt(e, {"start", "toolUse", "name"}));
  } else if (type == "contentBlockDelta") {
    out.content_block_index = BlockIndex(e, "contentBlockIndex");
    if (const json::value* text = At(e, {"delta", "text"}); text != nullptr && text->is_string()) {
      out.type = StreamEventType::kTextDelta;
      out.text = std::string(text->get_string());
    } else if (At(e, {"delta", "toolUse"}) != nullptr) {
      out.type = StreamEventType::kToolUseDelta;
      out.text = std::string(StringAt(e, {"delta", "toolUse", "input"}));
    } else if (At(e, {"delta", "reasoningContent"}) != nullptr) {
      out.type = StreamEventType::kReasoningDelta;
      out.text = std::string(StringAt(e, {"delta", "reasoningContent", "text"}));
    } else {
      out.type = StreamEventType::kOther;  // citation, image, toolResult deltas
    }
  } else if (type == "contentBlockStop") {
    out.type = StreamEventType::kContentBlockStop;
    out.content_block_index = BlockIndex(e, "contentBlockIndex");
  } else if (type == "messageStop") {
    out.type = StreamEventType::kMessageStop;
    out.stop_reason = std::string(StringAt(e, {"stopReason"}));
  } else if (type == "metadata") {
    out.type = StreamEventType::kMetadata;
    if (const json::value* usage = At(e, {"usage"}); usage != nullptr) {
      out.usage = internal::ConverseUsage(*usage);
    }
    out.latency_ms = IntAt(e, {"metrics", "latencyMs"});
  } else {
    out.type = StreamEventType::kOther;
  }
}

// Anthropic Messages streaming events (`type`: message_start, content_block_delta, ...).
void AnthropicEvent(const json::value& e, StreamEvent& out, std::optional<int64_t>& input,
                    std::optional<int64_t>& output) {
  const std::string_view type = StringAt(e, {"type"});
  out.event_type = std::string(type);
  out.content_block_index = BlockIndex(e, "index");
  if (type == "message_start") {
    out.type = StreamEventType::kMessageStart;
    if (auto n = IntAt(e, {"message", "usage", "input_tokens"})) input = n;
  } else if (type == "content_block_start") {
    out.type = StreamEventType::kContentBlockStart;
    if (StringAt(e, {"content_block", "type"}) == "tool_use") {
      out.tool_use_id = std::string(StringAt(e, {"content_block", "id"}));
      out.tool_name = std::string(StringAt(e, {"content_block", "name"}));
    }
  } else if (type == "content_block_delta") {
    const std::string_view delta = StringAt(e, {"delta", "type"});
    if (delta == "text_delta") {
      out.type = StreamEventType::kTextDelta;
      out.text = std::string(StringAt(e, {"delta", "text"}));
    } else if (delta == "input_json_delta") {
      out.type = StreamEventType::kToolUseDelta;
      out.text = std::string(StringAt(e, {"delta", "partial_json"}));
    } else if (delta == "thinking_delta" || delta == "signature_delta") {
      out.type = StreamEventType::kReasoningDelta;
      out.text = std::string(StringAt(e, {"delta", "thinking"}));
    } else {
      out.type = StreamEventType::kOther;
    }
  } else if (type == "content_block_stop") {
    out.type = StreamEventType::kContentBlockStop;
  } else if (type == "message_delta") {
    out.type = StreamEventType::kMessageStop;
    out.stop_reason = std::string(StringAt(e, {"delta", "stop_reason"}));
    if (auto n = IntAt(e, {"usage", "output_tokens"})) output = n;
  } else {
    out.type = StreamEventType::kOther;  // message_stop (its metrics are handled apart), ping
  }
}

// The chunk formats without an event type: Titan, Llama, Mistral, Cohere, chat completions.
// Appends a text delta and/or a stop to `out`; records native token counts.
void PlainChunk(const json::value& e, const StreamEvent& base, std::vector<StreamEvent>& out,
                std::optional<int64_t>& input, std::optional<int64_t>& output) {
  std::string_view text;
  bool has_text = false;
  std::string_view stop;
  auto take_text = [&](const json::value* v) {
    if (!has_text && v != nullptr && v->is_string()) {
      text = {v->get_string().data(), v->get_string().size()};
      has_text = true;
    }
  };
  take_text(At(e, {"outputText"}));                                             // Titan
  take_text(At(e, {"generation"}));                                             // Llama
  if (StringAt(e, {"event_type"}) != "stream-end") take_text(At(e, {"text"}));  // Cohere
  if (stop.empty()) stop = StringAt(e, {"completionReason"});
  if (stop.empty()) stop = StringAt(e, {"stop_reason"});
  if (stop.empty()) stop = StringAt(e, {"finish_reason"});
  for (std::string_view list : {"outputs", "choices", "generations"}) {
    const json::array* items = ArrayAt(e, {list});
    if (items == nullptr || items->empty()) continue;
    const json::value& first = (*items)[0];
    take_text(At(first, {"text"}));
    take_text(At(first, {"delta", "content"}));
    take_text(At(first, {"message", "content"}));
    if (stop.empty()) stop = StringAt(first, {"stop_reason"});
    if (stop.empty()) stop = StringAt(first, {"finish_reason"});
  }
  if (auto n = IntAt(e, {"inputTextTokenCount"})) input = n;
  if (auto n = IntAt(e, {"prompt_token_count"})) input = n;
  if (auto n = IntAt(e, {"totalOutputTextTokenCount"})) output = n;
  if (auto n = IntAt(e, {"generation_token_count"})) output = n;  // Llama: a running total

  if (has_text) {
    StreamEvent& delta = out.emplace_back(base);
    delta.type = StreamEventType::kTextDelta;
    delta.content_block_index = 0;
    delta.text = std::string(text);
  }
  if (!stop.empty()) {
    StreamEvent& end = out.emplace_back(base);
    end.type = StreamEventType::kMessageStop;
    end.stop_reason = std::string(stop);
  }
}

}  // namespace

std::string_view StreamEventTypeName(StreamEventType type) {
  switch (type) {
    case StreamEventType::kMessageStart:
      return "message_start";
    case StreamEventType::kContentBlockStart:
      return "content_block_start";
    case StreamEventType::kTextDelta:
      return "text_delta";
    case StreamEventType::kReasoningDelta:
      return "reasoning_delta";
    case StreamEventType::kToolUseDelta:
      return "tool_use_delta";
    case StreamEventType::kContentBlockStop:
      return "content_block_stop";
    case StreamEventType::kMessageStop:
      return "message_stop";
    case StreamEventType::kMetadata:
      return "metadata";
    case StreamEventType::kOther:
      return "other";
  }
  return "other";
}

StreamParser::StreamParser(StreamKind kind, std::string request_id) : kind_(kind) {
  response_.request_id = std::move(request_id);
}

Status StreamParser::Fail(Error error) {
  if (error.request_id.empty()) error.request_id = response_.request_id;
  error_ = std::move(error);
  return tl::unexpected(*error_);
}

Status StreamParser::Feed(std::string_view chunk, std::vector<StreamEvent>& events) {
  if (error_) return tl::unexpected(*error_);
  decoder_.Feed(chunk);
  while (true) {
    Result<std::optional<aws::EventStreamMessage>> next = decoder_.Next();
    if (!next) return Fail(std::move(next.error()));
    const std::optional<aws::EventStreamMessage>& message = *next;
    if (!message.has_value()) return {};
    if (Status handled = HandleMessage(*message, events); !handled) return handled;
  }
}

Status StreamParser::HandleMessage(const aws::EventStreamMessage& message,
                                   std::vector<StreamEvent>& events) {
  const std::string_view message_type = message.MessageType();
  if (message_type == "exception") {
    return Fail(
        aws::ParseExceptionFrame(message.ExceptionType(), message.payload, response_.request_id)
            .error);
  }
  if (message_type == "error") {
    return Fail(
        aws::ParseErrorFrame(message.ErrorCode(), message.ErrorMessage(), response_.request_id)
            .error);
  }
  if (message_type != "event") {
    return Fail(Error::Protocol("event stream frame with :message-type '" +
                                std::string(message_type) + "'"));
  }
  const std::string_view event_type = message.EventType();
  if (kind_ == StreamKind::kInvokeModelWithResponseStream && event_type == "chunk") {
    return HandleChunk(message.payload, events);
  }
  StreamEvent event;
  event.payload = message.payload;
  const bool known = kind_ == StreamKind::kConverseStream &&
                     std::find(kConverseEvents.begin(), kConverseEvents.end(), event_type) !=
                         kConverseEvents.end();
  if (!known) {
    // botocore skips event types it does not know; they are passed on for visibility only.
    event.event_type = std::string(event_type);
    Emit(std::move(event), events);
    return {};
  }
  Result<json::value> payload = internal::ParseObject(
      message.payload, "ConverseStream " + std::string(event_type) + " event");
  if (!payload) return Fail(std::move(payload.error()));
  ConverseEvent(event_type, *payload, event);
  Emit(std::move(event), events);
  return {};
}

Status StreamParser::HandleChunk(std::string_view payload, std::vector<StreamEvent>& events) {
  Result<json::value> chunk = internal::ParseObject(payload, "InvokeModelWithResponseStream chunk");
  if (!chunk) return Fail(std::move(chunk.error()));
  const json::value* bytes = At(*chunk, {"bytes"});
  if (bytes == nullptr || !bytes->is_string()) {
    return Fail(Error::Protocol("InvokeModelWithResponseStream chunk without bytes"));
  }
  std::optional<std::string> decoded =
      Base64Decode({bytes->get_string().data(), bytes->get_string().size()});
  if (!decoded)
    return Fail(Error::Protocol("InvokeModelWithResponseStream chunk bytes: bad base64"));
  Result<json::value> native = internal::ParseObject(*decoded, "model stream event");
  if (!native) return Fail(std::move(native.error()));
  const json::value& e = *native;

  StreamEvent base;
  base.event_type = "chunk";
  base.payload = std::move(*decoded);
  std::vector<StreamEvent> produced;
  const json::value* metrics = At(e, {kInvocationMetrics});
  std::optional<Usage> wrapped_usage;  // Nova's `metadata.usage`, beside the metrics

  if (At(e, {"type"}) != nullptr) {
    StreamEvent& event = produced.emplace_back(base);
    AnthropicEvent(e, event, native_input_, native_output_);
    // message_stop says nothing but its metrics, which become the metadata event below.
    if (event.event_type == "message_stop" && metrics != nullptr) produced.pop_back();
  } else {
    std::string_view wrapped;
    for (std::string_view key : kConverseEvents) {
      if (At(e, {key}) != nullptr) wrapped = key;
    }
    if (!wrapped.empty()) {
      StreamEvent& event = produced.emplace_back(base);
      ConverseEvent(wrapped, *At(e, {wrapped}), event);
      // Nova's last chunk holds both `metadata` and the invocation metrics: one metadata event,
      // with Bedrock's own counts, stands for both.
      if (wrapped == "metadata" && metrics != nullptr) {
        wrapped_usage = event.usage;
        produced.pop_back();
      }
    } else {
      PlainChunk(e, base, produced, native_input_, native_output_);
    }
  }
  if (metrics != nullptr) {
    StreamEvent& meta = produced.emplace_back(base);
    meta.type = StreamEventType::kMetadata;
    meta.event_type = std::string(kInvocationMetrics);
    meta.usage = internal::InvocationMetricsUsage(*metrics);
    if (!meta.usage) meta.usage = wrapped_usage;
    meta.latency_ms = IntAt(*metrics, {"invocationLatency"});
  }
  if (produced.empty()) {
    StreamEvent& other = produced.emplace_back(std::move(base));
    other.type = StreamEventType::kOther;
  }
  for (StreamEvent& event : produced) Emit(std::move(event), events);
  return {};
}

void StreamParser::Emit(StreamEvent event, std::vector<StreamEvent>& events) {
  ++event_count_;
  switch (event.type) {
    case StreamEventType::kTextDelta:
      response_.text.append(event.text);
      break;
    case StreamEventType::kMessageStop:
      response_.stop_reason = event.stop_reason;
      response_.stop = NormalizeStopReason(event.stop_reason);
      break;
    case StreamEventType::kMetadata:
      if (event.usage) {
        response_.usage = *event.usage;
        response_.usage_source = UsageSource::kStream;
        has_usage_ = true;
        has_metadata_usage_ = true;
      }
      if (event.latency_ms) response_.latency_ms = event.latency_ms;
      break;
    default:
      break;
  }
  if (!has_metadata_usage_ && native_input_) {
    response_.usage.input_tokens = *native_input_;
    response_.usage.output_tokens = native_output_.value_or(0);
    has_usage_ = true;
  }
  events.push_back(std::move(event));
}

Result<ModelResponse> StreamParser::Finish() {
  if (error_) return tl::unexpected(*error_);
  if (Status s = decoder_.Finish(); !s) {
    return tl::unexpected(Fail(Error::Protocol("stream cut short: " + s.error().message)).error());
  }
  if (!has_metadata_usage_) {
    return tl::unexpected(
        Fail(Error::Protocol(
                 kind_ == StreamKind::kConverseStream
                     ? "stream ended before its metadata event: it was cut short"
                     : "stream ended before the chunk with amazon-bedrock-invocationMetrics: it "
                       "was cut short"))
            .error());
  }
  response_.usage_source = UsageSource::kStream;
  return response_;
}

}  // namespace quotaflow::bedrock
