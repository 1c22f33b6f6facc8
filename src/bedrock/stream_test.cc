#include "bedrock/stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bedrock/base64.h"

namespace quotaflow::bedrock {
namespace {

using ::testing::HasSubstr;

std::string Frame(std::vector<aws::EventStreamHeader> headers, std::string payload) {
  Result<std::string> bytes =
      aws::EncodeEventStreamMessage({std::move(headers), std::move(payload)});
  EXPECT_TRUE(bytes) << bytes.error().message;
  return bytes.value_or("");
}

std::string Event(const std::string& type, std::string payload) {
  return Frame({{":event-type", type},
                {":content-type", std::string("application/json")},
                {":message-type", std::string("event")}},
               std::move(payload));
}

std::string Exception(const std::string& type, std::string payload) {
  return Frame({{":exception-type", type},
                {":content-type", std::string("application/json")},
                {":message-type", std::string("exception")}},
               std::move(payload));
}

// An InvokeModelWithResponseStream chunk carrying `native` (with the service's padding field).
std::string Chunk(const std::string& native) {
  return Event("chunk", R"({"bytes":")" + Base64Encode(native) + R"(","p":"abcdefgh"})");
}

std::string ConverseStreamBody() {
  return Event("messageStart", R"({"p":"abc","role":"assistant"})") +
         Event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"},"p":"ab"})") +
         Event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"lo"}})") +
         Event("contentBlockStop", R"({"contentBlockIndex":0})") +
         Event("contentBlockStart",
               R"({"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}})") +
         Event("contentBlockDelta",
               R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}})") +
         Event("contentBlockStop", R"({"contentBlockIndex":1})") +
         Event("messageStop", R"({"stopReason":"tool_use"})") +
         Event("metadata", R"({"usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17,)"
                           R"("cacheReadInputTokens":100,"cacheWriteInputTokens":7},)"
                           R"("metrics":{"latencyMs":802}})");
}

std::vector<StreamEvent> FeedAll(StreamParser& parser, std::string_view body, size_t chunk_size,
                                 Status* status = nullptr) {
  std::vector<StreamEvent> events;
  for (size_t i = 0; i < body.size(); i += chunk_size) {
    Status s = parser.Feed(body.substr(i, chunk_size), events);
    if (!s) {
      if (status != nullptr) *status = s;
      return events;
    }
  }
  return events;
}

std::vector<StreamEventType> Types(const std::vector<StreamEvent>& events) {
  std::vector<StreamEventType> types;
  types.reserve(events.size());
  for (const StreamEvent& e : events) types.push_back(e.type);
  return types;
}

class ConverseStreamChunking : public ::testing::TestWithParam<size_t> {};

TEST_P(ConverseStreamChunking, YieldsTypedEventsAndFinalUsageWhateverTheChunking) {
  StreamParser parser(StreamKind::kConverseStream, "req-9");
  const std::vector<StreamEvent> events = FeedAll(parser, ConverseStreamBody(), GetParam());
  using T = StreamEventType;
  EXPECT_EQ(Types(events),
            (std::vector<T>{T::kMessageStart, T::kTextDelta, T::kTextDelta, T::kContentBlockStop,
                            T::kContentBlockStart, T::kToolUseDelta, T::kContentBlockStop,
                            T::kMessageStop, T::kMetadata}));
  EXPECT_EQ(events[1].event_type, "contentBlockDelta");
  EXPECT_EQ(events[1].content_block_index, 0);
  EXPECT_EQ(events[4].tool_use_id, "t1");
  EXPECT_EQ(events[4].tool_name, "f");
  EXPECT_EQ(events[5].text, "{\"a\":");
  EXPECT_EQ(events[7].stop_reason, "tool_use");

  Result<ModelResponse> done = parser.Finish();
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->text, "Hello");
  EXPECT_EQ(done->stop, StopReason::kToolUse);
  EXPECT_EQ(done->usage_source, UsageSource::kStream);
  EXPECT_EQ(done->usage.input_tokens, 12);
  EXPECT_EQ(done->usage.output_tokens, 5);
  EXPECT_EQ(done->usage.cache_read_tokens, 100);
  EXPECT_EQ(done->usage.cache_write_tokens, 7);
  EXPECT_EQ(done->latency_ms, 802);
  EXPECT_EQ(done->request_id, "req-9");
  EXPECT_EQ(parser.events(), 9);
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, ConverseStreamChunking, ::testing::Values(1, 7, 64, 100000));

TEST(StreamParser, MidStreamThrottleIsAThrottledError) {
  StreamParser parser(StreamKind::kConverseStream, "req-1");
  const std::string body =
      Event("messageStart", R"({"role":"assistant"})") +
      Exception("throttlingException",
                R"({"message":"Too many requests, please wait before trying again."})") +
      Event("messageStop", R"({"stopReason":"end_turn"})");
  Status status;
  const std::vector<StreamEvent> events = FeedAll(parser, body, 5, &status);
  ASSERT_FALSE(status);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(status.error().code, ErrorCode::kThrottled);
  EXPECT_EQ(status.error().aws_code, "ThrottlingException");
  EXPECT_EQ(status.error().http_status, 429);
  EXPECT_EQ(status.error().throttle, ThrottleKind::kRequestsPerMinute);
  EXPECT_EQ(status.error().request_id, "req-1");
  EXPECT_TRUE(parser.failed());

  std::vector<StreamEvent> more;
  EXPECT_FALSE(parser.Feed(Event("metadata", "{}"), more));
  EXPECT_TRUE(more.empty());
  EXPECT_FALSE(parser.Finish());
}

TEST(StreamParser, ErrorFramesAndServiceUnavailableMapToServiceErrors) {
  StreamParser unavailable(StreamKind::kInvokeModelWithResponseStream);
  std::vector<StreamEvent> events;
  Status s =
      unavailable.Feed(Exception("serviceUnavailableException",
                                 R"({"message":"Bedrock is unable to process your request."})"),
                       events);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s.error().http_status, 503);

  StreamParser error_frame(StreamKind::kConverseStream);
  s = error_frame.Feed(Frame({{":message-type", std::string("error")},
                              {":error-code", std::string("InternalFailure")},
                              {":error-message", std::string("boom")}},
                             ""),
                       events);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("boom"));
}

TEST(StreamParser, AStreamCutAtAFrameBoundaryIsNotComplete) {
  const std::string body = ConverseStreamBody();
  const std::string without_metadata = body.substr(
      0, body.rfind(Event("metadata",
                          R"({"usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17,)"
                          R"("cacheReadInputTokens":100,"cacheWriteInputTokens":7},)"
                          R"("metrics":{"latencyMs":802}})")));
  ASSERT_LT(without_metadata.size(), body.size());
  StreamParser parser(StreamKind::kConverseStream);
  FeedAll(parser, without_metadata, 13);
  EXPECT_EQ(parser.partial().text, "Hello");
  EXPECT_FALSE(parser.has_usage());
  Result<ModelResponse> done = parser.Finish();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kProtocol);
  EXPECT_THAT(done.error().message, HasSubstr("before its metadata event"));
}

TEST(StreamParser, AStreamCutInsideAFrameIsTruncated) {
  const std::string body = ConverseStreamBody();
  StreamParser parser(StreamKind::kConverseStream);
  const std::string_view truncated = body;
  FeedAll(parser, truncated.substr(0, body.size() - 10), 50);
  Result<ModelResponse> done = parser.Finish();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kProtocol);
  EXPECT_THAT(done.error().message, HasSubstr("cut short"));
}

TEST(StreamParser, CorruptBytesFailTheStream) {
  std::string body = ConverseStreamBody();
  body[20] ^= 0x40;
  StreamParser parser(StreamKind::kConverseStream);
  Status status;
  FeedAll(parser, body, 1000, &status);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kProtocol);
}

TEST(StreamParser, UnknownEventTypesPassAsOther) {
  StreamParser parser(StreamKind::kConverseStream);
  std::vector<StreamEvent> events;
  ASSERT_TRUE(parser.Feed(Event("somethingNew", R"({"x":1})"), events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, StreamEventType::kOther);
  EXPECT_EQ(events[0].event_type, "somethingNew");
  EXPECT_EQ(events[0].payload, R"({"x":1})");
}

TEST(StreamParser, BadEventPayloadIsAProtocolError) {
  StreamParser parser(StreamKind::kConverseStream);
  std::vector<StreamEvent> events;
  Status s = parser.Feed(Event("messageStop", "not json"), events);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kProtocol);

  StreamParser invoke(StreamKind::kInvokeModelWithResponseStream);
  s = invoke.Feed(Event("chunk", R"({"bytes":"%%%"})"), events);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("base64"));
}

TEST(StreamParser, AnthropicInvokeStreamSettlesOnInvocationMetrics) {
  const std::string body =
      Chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":273,)"
            R"("output_tokens":2}}})") +
      Chunk(
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
      Chunk(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Ok"}})") +
      Chunk(R"({"type":"content_block_stop","index":0})") +
      Chunk(R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use",)"
            R"("id":"toolu_1","name":"get_weather","input":{}}})") +
      Chunk(R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",)"
            R"("partial_json":"{\"l"}})") +
      Chunk(R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},)"
            R"("usage":{"output_tokens":88}})") +
      Chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":273,)"
            R"("outputTokenCount":72,"invocationLatency":1337,"firstByteLatency":333}})");
  StreamParser parser(StreamKind::kInvokeModelWithResponseStream);
  const std::vector<StreamEvent> events = FeedAll(parser, body, 33);
  using T = StreamEventType;
  EXPECT_EQ(Types(events), (std::vector<T>{T::kMessageStart, T::kContentBlockStart, T::kTextDelta,
                                           T::kContentBlockStop, T::kContentBlockStart,
                                           T::kToolUseDelta, T::kMessageStop, T::kMetadata}));
  EXPECT_EQ(events[4].tool_use_id, "toolu_1");
  EXPECT_EQ(events[4].event_type, "content_block_start");
  EXPECT_EQ(events[7].event_type, "amazon-bedrock-invocationMetrics");
  Result<ModelResponse> done = parser.Finish();
  ASSERT_TRUE(done) << done.error().message;
  // Bedrock's own count (72) wins over the model's message_delta (88).
  EXPECT_EQ(done->usage.input_tokens, 273);
  EXPECT_EQ(done->usage.output_tokens, 72);
  EXPECT_EQ(done->latency_ms, 1337);
  EXPECT_EQ(done->text, "Ok");
  EXPECT_EQ(done->stop_reason, "tool_use");
}

TEST(StreamParser, AnthropicStreamCutBeforeMetricsKeepsItsNativeCounts) {
  StreamParser parser(StreamKind::kInvokeModelWithResponseStream);
  FeedAll(parser,
          Chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":12,)"
                R"("output_tokens":1}}})"),
          1000);
  ASSERT_TRUE(parser.has_usage());
  EXPECT_EQ(parser.partial().usage.input_tokens, 12);
  EXPECT_FALSE(parser.Finish());
}

TEST(StreamParser, TitanLlamaAndNovaChunks) {
  {
    StreamParser titan(StreamKind::kInvokeModelWithResponseStream);
    const std::vector<StreamEvent> events = FeedAll(
        titan,
        Chunk(R"({"outputText":"Once","index":0,"totalOutputTextTokenCount":null,)"
              R"("completionReason":null,"inputTextTokenCount":13})") +
            Chunk(R"({"outputText":" upon","index":0,"totalOutputTextTokenCount":100,)"
                  R"("completionReason":"LENGTH","inputTextTokenCount":null,)"
                  R"("amazon-bedrock-invocationMetrics":{"inputTokenCount":13,)"
                  R"("outputTokenCount":100,"invocationLatency":4075,"firstByteLatency":3074}})"),
        10);
    using T = StreamEventType;
    EXPECT_EQ(Types(events),
              (std::vector<T>{T::kTextDelta, T::kTextDelta, T::kMessageStop, T::kMetadata}));
    Result<ModelResponse> done = titan.Finish();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->text, "Once upon");
    EXPECT_EQ(done->stop, StopReason::kMaxTokens);
    EXPECT_EQ(done->usage.output_tokens, 100);
  }
  {
    StreamParser llama(StreamKind::kInvokeModelWithResponseStream);
    FeedAll(llama,
            Chunk(R"({"generation":"Hi","prompt_token_count":6,"generation_token_count":1,)"
                  R"("stop_reason":null})") +
                Chunk(R"({"generation":"!","prompt_token_count":null,)"
                      R"("generation_token_count":2,"stop_reason":"stop",)"
                      R"("amazon-bedrock-invocationMetrics":{"inputTokenCount":6,)"
                      R"("outputTokenCount":2,"invocationLatency":200,"firstByteLatency":90}})"),
            1000);
    Result<ModelResponse> done = llama.Finish();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->text, "Hi!");
    EXPECT_EQ(done->stop, StopReason::kEndTurn);
    EXPECT_EQ(done->usage.input_tokens, 6);
  }
  {
    StreamParser nova(StreamKind::kInvokeModelWithResponseStream);
    const std::vector<StreamEvent> events = FeedAll(
        nova,
        Chunk(R"({"messageStart":{"role":"assistant"}})") +
            Chunk(R"({"contentBlockDelta":{"delta":{"text":"The"},"contentBlockIndex":0}})") +
            Chunk(R"({"messageStop":{"stopReason":"end_turn"}})") +
            Chunk(R"({"metadata":{"usage":{"inputTokens":12,"outputTokens":13,)"
                  R"("cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0},"metrics":{},)"
                  R"("trace":{}},"amazon-bedrock-invocationMetrics":{"inputTokenCount":12,)"
                  R"("outputTokenCount":13,"invocationLatency":244,"firstByteLatency":127,)"
                  R"("cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0}})"),
        1000);
    using T = StreamEventType;
    EXPECT_EQ(Types(events),
              (std::vector<T>{T::kMessageStart, T::kTextDelta, T::kMessageStop, T::kMetadata}));
    EXPECT_EQ(events[1].event_type, "contentBlockDelta");
    Result<ModelResponse> done = nova.Finish();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->usage.output_tokens, 13);
    EXPECT_EQ(done->latency_ms, 244);
  }
}

}  // namespace
}  // namespace quotaflow::bedrock
