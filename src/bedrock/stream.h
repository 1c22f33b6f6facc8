#pragma once
// Incremental parser for the two streaming responses, ConverseStream and
// InvokeModelWithResponseStream: body bytes in (any chunking), typed events out, and at the end
// the final usage, stop reason and text.
//
// ConverseStream events are the service's own (messageStart, contentBlockDelta, ..., metadata).
// InvokeModelWithResponseStream wraps each of the model's native events in a `chunk` whose
// `bytes` is base64; the parser decodes it and maps the native event (Anthropic message_start /
// content_block_delta / message_delta / message_stop, Nova's Converse-shaped events, Titan,
// Llama, Mistral, Cohere and chat-completion chunks) onto the same typed events. The last chunk of
// every family carries `amazon-bedrock-invocationMetrics`, Bedrock's own token count.
//
// Exception frames (`:message-type exception`: throttlingException, modelStreamErrorException...)
// become the Error aws::ParseExceptionFrame makes of them, with the HTTP-level code and status, so
// a mid-stream throttle reads like a 429. After an error the parser stays failed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/eventstream.h"
#include "bedrock/operations.h"
#include "quotaflow/accounting.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

enum class StreamKind { kConverseStream, kInvokeModelWithResponseStream };

enum class StreamEventType {
  kMessageStart,       // the assistant message began
  kContentBlockStart,  // content_block_index; tool_use_id and tool_name for a tool-use block
  kTextDelta,          // content_block_index, text
  kReasoningDelta,     // content_block_index, text (empty for a signature or redacted content)
  kToolUseDelta,       // content_block_index, text = a fragment of the tool input JSON
  kContentBlockStop,   // content_block_index
  kMessageStop,        // stop_reason
  kMetadata,           // usage (and latency_ms): the stream's final accounting
  kOther,              // anything else: citations, images, unknown event types, ping
};

std::string_view StreamEventTypeName(StreamEventType type);

struct StreamEvent {
  StreamEventType type = StreamEventType::kOther;
  // ConverseStream: the `:event-type` ("contentBlockDelta"). InvokeModelWithResponseStream: the
  // native event's type ("content_block_delta", "contentBlockDelta" for Nova) or "chunk" when the
  // native event has none (Titan, Llama, ...).
  std::string event_type;
  int content_block_index = -1;
  std::string text;
  std::string stop_reason;
  std::string tool_use_id;
  std::string tool_name;
  std::optional<Usage> usage;
  std::optional<int64_t> latency_ms;
  // The event's JSON: the frame payload (ConverseStream) or the decoded chunk bytes (invoke).
  std::string payload;
};

// Thread safety: not thread-safe; one parser per response, used by one thread at a time.
class StreamParser {
 public:
  // `request_id` (the response's x-amzn-RequestId) goes into errors and the final response.
  explicit StreamParser(StreamKind kind, std::string request_id = {});
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // Decodes `chunk` and appends the events it completes to `events`. Errors: kProtocol for a
  // corrupt frame or a payload that is not the expected JSON; the mapped service error for an
  // exception or error frame. Once failed, every call returns the same error.
  Status Feed(std::string_view chunk, std::vector<StreamEvent>& events);

  // The body ended. Returns the final response (usage_source kStream), or kProtocol if the body
  // ended inside a frame or before any usage was reported (a stream cut at a frame boundary
  // looks complete to the decoder; only the missing metadata gives it away), or the earlier
  // error.
  Result<ModelResponse> Finish();

  // What the stream has reported so far: text, stop reason, and usage if any was seen (usage
  // from native counts, e.g. Anthropic's message_start input tokens, counts as seen). For
  // describing a stream that broke.
  const ModelResponse& partial() const { return response_; }
  bool has_usage() const { return has_usage_; }
  int64_t events() const { return event_count_; }
  bool failed() const { return error_.has_value(); }

 private:
  Status Fail(Error error);
  Status HandleMessage(const aws::EventStreamMessage& message, std::vector<StreamEvent>& events);
  Status HandleChunk(std::string_view payload, std::vector<StreamEvent>& events);
  // Appends `event` and folds it into response_.
  void Emit(StreamEvent event, std::vector<StreamEvent>& events);

  const StreamKind kind_;
  aws::EventStreamDecoder decoder_;
  ModelResponse response_;
  bool has_usage_ = false;
  // Usage pieced together from a family's native counts (Anthropic message_start/message_delta,
  // Titan, Llama), used only if no metadata or invocation metrics arrive.
  std::optional<int64_t> native_input_;
  std::optional<int64_t> native_output_;
  bool has_metadata_usage_ = false;
  int64_t event_count_ = 0;
  std::optional<Error> error_;
};

}  // namespace quotaflow::bedrock
