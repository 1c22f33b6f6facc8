// Golden table: every recording of real Bedrock traffic in ../shared/testdata/bedrock-fixtures,
// run through this layer's parsers, against values read off the recordings by hand.
//
// The expected values below were taken from the recordings themselves (the JSON bodies, the
// X-Amzn-Bedrock-* headers, the decoded frames in eventstream/bedrock-recorded/*.decoded.json),
// not computed by the code under test. Text is checked by its first bytes and its length.
//
// A recording is one interaction of a nock JSON file, a VCR cassette, or one vercel-ai fixture.
// Keys are "<path under bedrock-fixtures>#<interaction index>". What cannot serve is listed in
// kExcluded with the reason, and CoversEveryRecording checks that table + exclusions account for
// every file and every interaction, so that new recordings cannot be skipped silently.
//
// YAML: the project has no YAML library. ReadCassette below is a reader for exactly what VCR
// writes (interactions, a response's headers, body.string as a single-quoted or !!binary scalar,
// status code), plus the few scalars of a pydantic-ai `parsed_body` that carry usage (stopReason,
// usage.*, inputTokens, message). A parsed_body's text is not reconstructed, so those rows check
// usage and stop reason only (text_prefix nullptr).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "aws/errors.h"
#include "aws/eventstream.h"
#include "aws/testdata.h"
#include "bedrock/base64.h"
#include "bedrock/operations.h"
#include "bedrock/stream.h"

namespace quotaflow::bedrock {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Expected values.

struct UsageRow {
  const char* key;
  const char* usage_source;  // UsageSourceName: "body", "headers", "stream", "none"
  int64_t input;             // -1: the response reports no usage
  int64_t output;
  int64_t cache_read;
  int64_t cache_write;
  const char* stop_reason;
  const char* text_prefix;  // nullptr: text not checked (parsed_body cassettes)
  size_t text_bytes;
  int frames;     // streams: event-stream frames in the body; 0 for the others
  bool complete;  // streams: the body ends with its metadata; false: Finish must fail
};

// Converse, InvokeModel and the two streams. Streams from vercel-ai `.chunks.txt` files are the
// decoded events re-framed one per line.
constexpr UsageRow kUsage[] = {
    {"openinference/js-nock/should-comprehensively-test-all-token-count-types.json#0", "body", 57,
     100, 0, 0, "max_tokens", "The capital of France is", 410, 0, true},
    {"openinference/js-nock/should-comprehensively-test-all-token-count-types.json#1", "body", 57,
     100, 0, 0, "max_tokens", "The capital of Italy is ", 446, 0, true},
    {"openinference/js-nock/should-comprehensively-test-all-token-count-types.json#2", "body", 57,
     100, 0, 0, "max_tokens", "The capital of Germany i", 415, 0, true},
    {"openinference/js-nock/should-create-spans-for-invokemodel-calls.json#0", "headers", 13, 35, 0,
     0, "end_turn", "Hello! As an AI language", 130, 0, true},
    {"openinference/js-nock/should-handle-ai21-jamba-models.json#0", "headers", 16, 19, 0, 0,
     "stop", " Hello! I'm doing great,", 63, 0, true},
    {"openinference/js-nock/should-handle-amazon-nova-models-with-streaming.json#0", "stream", 5,
     100, 0, 0, "max_tokens", "Photosynthesis is the pr", 518, 44, true},
    {"openinference/js-nock/should-handle-amazon-nova-models.json#0", "headers", 454, 75, 0, 0,
     "tool_use", "<thinking> The User has ", 232, 0, true},
    {"openinference/js-nock/should-handle-amazon-titan-models-with-streaming.json#0", "stream", 11,
     100, 0, 0, "max_tokens", "\n\nCloud computing offers", 515, 6, true},
    {"openinference/js-nock/should-handle-amazon-titan-models.json#0", "headers", 6, 42, 0, 0,
     "FINISH", "\nThis model is designed ", 239, 0, true},
    {"openinference/js-nock/should-handle-amazon-titan-streaming.json#0", "stream", 13, 100, 0, 0,
     "LENGTH", "\nOnce upon a time, a rob", 508, 2, true},
    {"openinference/js-nock/should-handle-basic-converse-api-calls.json#0", "body", 13, 35, 0, 0,
     "end_turn", "Hello! As an AI language", 130, 0, true},
    {"openinference/js-nock/should-handle-basic-converse-stream-responses.json#0", "stream", 13, 35,
     0, 0, "end_turn", "Hello! As an AI language", 130, 16, true},
    {"openinference/js-nock/should-handle-cohere-command-models.json#0", "headers", 6, 43, 0, 0,
     "COMPLETE", " Hi! I am an AI language", 147, 0, true},
    {"openinference/js-nock/should-handle-context-attributes-with-converse.json#0", "body", 14, 15,
     0, 0, "end_turn", "My name is Claude. It's ", 41, 0, true},
    {"openinference/js-nock/should-handle-context-attributes.json#0", "headers", 17, 66, 0, 0,
     "end_turn", "Hello! I'm happy to help", 302, 0, true},
    {"openinference/js-nock/should-handle-different-image-formats-with-correct-mime-types.json#0",
     "body", 18, 100, 0, 0, "max_tokens", "This image appears to be", 466, 0, true},
    {"openinference/js-nock/should-handle-empty-minimal-response.json#0", "none", -1, 0, 0, 0,
     "end_turn", "", 0, 0, true},
    {"openinference/js-nock/should-handle-inference-config-in-converse-api.json#0", "body", 13, 150,
     0, 0, "max_tokens", "Machine learning is a br", 814, 0, true},
    {"openinference/js-nock/should-handle-invoke-model-with-response-stream.json#0", "stream", 12,
     100, 0, 0, "max_tokens", "Here's a short story for", 416, 26, true},
    {"openinference/js-nock/should-handle-meta-llama-models-invoke.json#0", "headers", 6, 18, 0, 0,
     "length", "Hello! I'm doing well, t", 70, 0, true},
    {"openinference/js-nock/should-handle-meta-llama-models.json#0", "body", 23, 100, 0, 0,
     "max_tokens", "\n\nI'd be happy to introd", 486, 0, true},
    {"openinference/js-nock/should-handle-missing-token-counts-gracefully.json#0", "headers", 13,
     21, 0, 0, "end_turn", "Here's a short fact for ", 66, 0, true},
    {"openinference/js-nock/should-handle-missing-token-counts.json#0", "none", -1, 0, 0, 0,
     "max_tokens", "I apologize, but I don't", 233, 0, true},
    {"openinference/js-nock/should-handle-mistral-models-with-streaming.json#0", "stream", 15, 21,
     0, 0, "end_turn", " Silent screens glow,\n\nC", 73, 25, true},
    {"openinference/js-nock/should-handle-mistral-models.json#0", "body", 18, 94, 0, 0, "end_turn",
     " I'm an artificial intel", 426, 0, true},
    {"openinference/js-nock/should-handle-multi-modal-messages-with-images.json#0", "headers", 19,
     100, 0, 0, "max_tokens", "This image appears to be", 505, 0, true},
    {"openinference/js-nock/"
     "should-handle-multiple-system-prompts-concatenation-in-converse-api.json#0",
     "body", 22, 62, 0, 0, "end_turn", "TypeScript is a superset", 321, 0, true},
    {"openinference/js-nock/should-handle-multiple-tools-in-single-request.json#0", "headers", 435,
     100, 0, 0, "max_tokens", "Okay, let's get the weat", 52, 0, true},
    {"openinference/js-nock/should-handle-non-anthropic-models.json#0", "headers", 6, 26, 0, 0,
     "FINISH", "\nHey there, buddy! I hop", 95, 0, true},
    {"openinference/js-nock/should-handle-single-system-prompt-in-converse-api.json#0", "body", 25,
     10, 0, 0, "end_turn", "The capital of France is", 31, 0, true},
    {"openinference/js-nock/should-handle-streaming-responses-with-tool-calls.json#0", "stream",
     273, 72, 0, 0, "tool_use", "Okay, let's get the curr", 54, 27, true},
    {"openinference/js-nock/should-handle-streaming-tool-calls-and-responses.json#0", "stream", 414,
     114, 0, 0, "tool_use", "I can certainly help you", 180, 27, true},
    {"openinference/js-nock/should-handle-system-prompt-with-multi-turn-conversation.json#0",
     "body", 50, 83, 0, 0, "end_turn", "Alright, here's a joke f", 288, 0, true},
    {"openinference/js-nock/should-handle-system-prompts-with-streaming-responses.json#0", "stream",
     37, 14, 0, 0, "end_turn", "The capital of France is", 48, 6, true},
    {"openinference/js-nock/should-handle-text-plus-image-content-with-detailed-structure.json#0",
     "body", 17, 100, 0, 0, "max_tokens", "This image appears to be", 465, 0, true},
    {"openinference/js-nock/should-handle-tool-calling-with-function-definitions.json#0", "headers",
     373, 94, 0, 0, "tool_use", "Certainly! I can help yo", 161, 0, true},
    {"openinference/js-nock/should-handle-tool-configuration.json#0", "body", 408, 100, 0, 0,
     "max_tokens", "Certainly! I'd be happy ", 170, 0, true},
    {"openinference/js-nock/should-handle-tool-response-processing.json#0", "body", 369, 81, 0, 0,
     "tool_use", "To calculate 15 * 23, I ", 81, 0, true},
    {"openinference/js-nock/should-handle-tool-result-responses.json#0", "headers", 364, 100, 0, 0,
     "max_tokens", "Since it's warm and sunn", 401, 0, true},
    {"openinference/js-nock/"
     "should-handle-two-turn-conversation-with-proper-message-indexing.json#0",
     "body", 42, 57, 0, 0, "end_turn", "Sure, I'd be happy to te", 208, 0, true},
    {"openinference/js-nock/should-propagate-context-attributes-in-streaming.json#0", "stream", 13,
     35, 0, 0, "end_turn", "Hello! As an AI language", 130, 12, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-constructor.json#0",
     "headers", 12, 7, 0, 0, "end_turn", "This is a test", 14, 0, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-registerinstrumentations."
     "json#0",
     "headers", 12, 7, 0, 0, "end_turn", "This is a test", 14, 0, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-registerinstrumentations."
     "json#1",
     "headers", 12, 7, 0, 0, "end_turn", "This is a test", 14, 0, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-registerinstrumentations."
     "json#2",
     "headers", 12, 7, 0, 0, "end_turn", "this is a test", 14, 0, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-settracerprovider.json#0",
     "headers", 12, 7, 0, 0, "end_turn", "This is a test", 14, 0, true},
    {"openinference/js-nock/"
     "should-use-the-provided-tracer-provider-instead-of-the-global-one-settracerprovider.json#1",
     "headers", 12, 7, 0, 0, "end_turn", "This is a test", 14, 0, true},
    {"openinference/python-vcr/TestClaudeInvokeModelMessageApi.test_invoke_model.yaml#0", "headers",
     38, 246, 0, 0, "end_turn", "Sure, I'd be happy to ex", 1175, 0, true},
    {"openinference/python-vcr/TestConverseStream.test_invoke_text_message.yaml#0", "stream", 18,
     181, 0, 0, "end_turn", "The sum of the numbers f", 446, 174, true},
    {"openinference/python-vcr/TestConverseStream.test_invoke_tool_message.yaml#0", "stream", 353,
     38, 0, 0, "tool_use", "", 0, 9, true},
    {"openinference/python-vcr/TestConverseStream.test_invoke_tool_response_message.yaml#0",
     "stream", 443, 23, 0, 0, "end_turn", "\n\nThe most popular song ", 77, 22, true},
    {"openinference/python-vcr/TestInvokeModelWithStreamResponse.test_invoke.yaml#0", "stream", 702,
     98, 0, 0, "tool_use", "Of course! I'd be happy ", 147, 28, true},
    {"openinference/python-vcr/TestNovaInvokeModel.test_nova_converse.yaml#0", "body", 7, 64, 0, 0,
     "max_tokens", "The capital of France is", 339, 0, true},
    {"openinference/python-vcr/TestNovaInvokeModel.test_nova_lite_with_system.yaml#0", "headers",
     16, 27, 0, 0, "end_turn", "Hello! I'm an AI assista", 105, 0, true},
    {"openinference/python-vcr/TestNovaInvokeModel.test_nova_micro_text.yaml#0", "headers", 13, 3,
     0, 0, "end_turn", "4", 1, 0, true},
    {"openinference/python-vcr/TestNovaInvokeModel.test_nova_with_tool_use.yaml#0", "headers", 408,
     54, 0, 0, "tool_use", "<thinking> The User has ", 170, 0, true},
    {"openinference/python-vcr/"
     "TestNovaInvokeModelWithResponseStream.test_nova_micro_streaming.yaml#0",
     "stream", 12, 13, 0, 0, "end_turn", "The three primary colors", 51, 11, true},
    {"openinference/python-vcr/test_converse_tool_use_message.yaml#0", "body", 90, 14, 0, 0,
     "tool_use", "", 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_code_execution_tool_stream.yaml#0", "stream", 1002,
     59, 0, 0, "tool_use", "", 0, 12, true},
    {"pydantic-ai/converse/test_bedrock_model_iter_stream.yaml#0", "stream", 471, 91, 0, 0,
     "tool_use", "<thinking> To find the t", 283, 26, true},
    {"pydantic-ai/converse/test_bedrock_model_iter_stream.yaml#1", "stream", 577, 18, 0, 0,
     "end_turn", "The current temperature ", 66, 9, true},
    {"pydantic-ai/converse/test_bedrock_model_stream.yaml#0", "stream", 13, 82, 0, 0, "end_turn",
     "The capital of France is", 375, 33, true},
    {"pydantic-ai/converse/test_bedrock_model_stream_empty_text_delta.yaml#0", "stream", 70, 43, 0,
     0, "end_turn", "Hello! How can I help yo", 32, 10, true},
    {"pydantic-ai/converse/test_bedrock_model_stream_with_extra_headers.yaml#0", "stream", 2, 32, 0,
     0, "end_turn", "Hello! How can I assist ", 121, 12, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_redacted_stream.yaml#0", "stream", 92,
     253, 0, 0, "end_turn", "I notice you've sent wha", 359, 18, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_stream.yaml#0", "stream", 36, 73, 0, 0,
     "end_turn", "Hello! It's nice to meet", 55, 25, true},
    {"pydantic-ai/converse/test_bedrock_thinking_false_openai_variant_silent_drop.yaml#0", "body",
     74, 44, 0, 0, "end_turn", "ok", 2, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_false_qwen_variant_silent_drop.yaml#0", "body", 19,
     2, 0, 0, "end_turn", "ok", 2, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_high_openai_variant.yaml#0", "body", 74, 110, 0, 0,
     "end_turn", "ok", 2, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_high_qwen_variant.yaml#0", "body", 15, 55, 0, 0,
     "end_turn", "", 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_high_qwen_variant.yaml#1", "body", 39, 166, 0, 0,
     "end_turn", "\n\nok", 4, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_true_openai_variant.yaml#0", "body", 74, 26, 0, 0,
     "end_turn", "ok", 2, 0, true},
    {"pydantic-ai/converse/test_stream_cancel.yaml#0", "stream", 13, 85, 0, 0, "end_turn",
     "The capital of France is", 393, 34, true},
    {"vercel-ai/branches/amazon-bedrock-document-citations.chunks.txt#0", "stream", 2787, 297, 0, 0,
     "end_turn", "Based on the supplied do", 922, 61, true},
    {"vercel-ai/branches/amazon-bedrock-guard-content-intervened.json#0", "body", 18, 12, 0, 0,
     "guardrail_intervened", "Sorry, the model cannot ", 45, 0, true},
    {"vercel-ai/branches/amazon-bedrock-issue-11035-with-thinking.json#0", "body", 42, 46, 0, 0,
     "end_turn", "OK", 2, 0, true},
    {"vercel-ai/branches/amazon-bedrock-issue-11035-without-thinking.json#0", "body", 13, 4, 0, 0,
     "end_turn", "OK", 2, 0, true},
    {"vercel-ai/branches/amazon-bedrock-issue-11227-opus-4-6.json#0", "body", 209, 36, 0, 0,
     "end_turn", "{\"answer\":\"ok\"}", 15, 0, true},
    {"vercel-ai/branches/amazon-bedrock-redacted-content.chunks.txt#0", "stream", 67, 70, 0, 0,
     "tool_use", "", 0, 33, true},
    {"vercel-ai/branches/amazon-bedrock-redacted-content.json#0", "body", 69, 59, 0, 0, "tool_use",
     "", 0, 0, true},
    {"vercel-ai/branches/bedrock-opus-4-7-strict-tool-live.json#0", "body", 931, 46, 0, 0,
     "tool_use", "", 0, 0, true},
    {"vercel-ai/branches/bedrock-sonnet-4-6-native-structured-output-length.json#0", "body", 7423,
     3600, 0, 0, "max_tokens", "{\"reportMarkdown\":\"## Ma", 10022, 0, true},
    {"vercel-ai/branches/issue-11363-stop-sequence-null-end-turn.json#0", "body", 12, 4, 0, 0,
     "end_turn", "OK", 2, 0, true},
    {"vercel-ai/branches/issue-11363-stop-sequence-null-tool-use.json#0", "body", 407, 33, 0, 0,
     "tool_use", "", 0, 0, true},
    {"vercel-ai/branches/issue-11363-stop-sequence-null.json#0", "body", 674, 36, 0, 0, "tool_use",
     "", 0, 0, true},
    {"vercel-ai/branches/issue-11409-kimi-k2-thinking-final.chunks.txt#0", "stream", 406, 143, 0, 0,
     "end_turn", " <think> The user wants ", 594, 13, true},
    {"vercel-ai/branches/issue-11409-kimi-k2-thinking-glob-search.chunks.txt#0", "stream", 217, 75,
     0, 0, "tool_use", "", 0, 16, true},
    {"vercel-ai/branches/issue-11409-kimi-k2-thinking-read-file.chunks.txt#0", "stream", 325, 66, 0,
     0, "end_turn", " <think> The glob search", 274, 9, true},
    {"vercel-ai/branches/issue-13927-request-metadata.chunks.txt#0", "stream", 12, 4, 0, 0,
     "end_turn", "OK", 2, 5, true},
    {"vercel-ai/branches/issue-13927-request-metadata.json#0", "body", 12, 4, 0, 0, "end_turn",
     "OK", 2, 0, true},
    {"vercel-ai/branches/issue-14117-application-inference-profile-success.json#0", "body", 12, 4,
     0, 0, "end_turn", "hello", 5, 0, true},
    {"vercel-ai/branches/issue-16662-live.json#0", "body", 59284, 1981, 0, 0, "tool_use", "", 0, 0,
     true},
    {"vercel-ai/branches/issue-17523-converse-stream.chunks.txt#0", "stream", 2, 10, 0, 0,
     "max_tokens", "Hello! How can I assist ", 37, 7, true},
    {"vercel-ai/branches/issue-17523-converse.json#0", "body", 2, 10, 0, 0, "max_tokens",
     "Hello! How can I assist ", 37, 0, true},
    {"vercel-ai/branches/issue-17523-foundation-model-arn.chunks.txt#0", "stream", 5, 89, 0, 0,
     "end_turn", "Sorry, I can't respond i", 368, 36, true},
    {"vercel-ai/branches/issue-17523-foundation-model-arn.json#0", "body", 5, 50, 0, 0, "end_turn",
     "Sorry, I can't respond i", 198, 0, true},
    {"vercel-ai/branches/issue-18994-live-converse-stream.json#0", "stream", 12, 5, 0, 0,
     "end_turn", "OK.", 3, 6, true},
    {"vercel-ai/branches/issue-7034-tool-result-continuation.json#0", "body", 500, 41, 0, 0,
     "end_turn", "The password you request", 176, 0, true},
    {"vercel-ai/branches/issue-9967-gpt-oss-json-tool-name-channel.json#0", "body", 137, 196, 0, 0,
     "tool_use", "", 0, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-only-text-first.1.chunks.txt#0", "stream", 100, 20, 0, 0,
     "tool_use", "Here is your data:", 18, 7, true},
    {"vercel-ai/main/amazon-bedrock-json-other-tool.1.chunks.txt#0", "stream", 843, 28, 0, 0,
     "tool_use", "", 0, 6, true},
    {"vercel-ai/main/amazon-bedrock-json-other-tool.1.json#0", "body", 843, 28, 0, 0, "tool_use",
     "", 0, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-tool-text-then-weather-then-json.1.chunks.txt#0", "stream",
     500, 100, 0, 0, "tool_use", "2 + 2 equals 4. Now let ", 53, 12, true},
    {"vercel-ai/main/amazon-bedrock-json-tool-with-answer.1.json#0", "body", 156, 35, 0, 0,
     "tool_use", "2 + 2 equals 4.", 15, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-tool.1.chunks.txt#0", "none", -1, 0, 0, 0, "tool_use", "",
     0, 4, false},
    {"vercel-ai/main/amazon-bedrock-json-tool.1.json#0", "body", 15, 42, 0, 0, "tool_use", "", 0, 0,
     true},
    {"vercel-ai/main/amazon-bedrock-json-tool.2.chunks.txt#0", "none", -1, 0, 0, 0, "tool_use",
     "Let me generate that JSO", 34, 6, false},
    {"vercel-ai/main/amazon-bedrock-json-tool.2.json#0", "body", 12, 28, 0, 0, "tool_use",
     "Let me generate that JSO", 34, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-tool.3.chunks.txt#0", "none", -1, 0, 0, 0, "tool_use",
     "First text block.Second ", 47, 7, false},
    {"vercel-ai/main/amazon-bedrock-json-tool.3.json#0", "body", 18, 35, 0, 0, "tool_use",
     "First text block.Second ", 64, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-with-tool.1.chunks.txt#0", "none", -1, 0, 0, 0, "tool_use",
     "Calling a tool first.Now", 30, 9, false},
    {"vercel-ai/main/amazon-bedrock-json-with-tool.1.json#0", "body", 22, 48, 0, 0, "tool_use",
     "Let me call a tool first", 38, 0, true},
    {"vercel-ai/main/amazon-bedrock-json-with-tools.1.chunks.txt#0", "none", -1, 0, 0, 0,
     "tool_use", "Multiple tools.Final JSO", 26, 12, false},
    {"vercel-ai/main/amazon-bedrock-json-with-tools.1.json#0", "body", 28, 62, 0, 0, "tool_use",
     "Calling multiple tools.F", 49, 0, true},
    {"vercel-ai/main/amazon-bedrock-reasoning.chunks.txt#0", "stream", 51, 94, 0, 0, "end_turn",
     "There are **3** r's in \"", 63, 26, true},
    {"vercel-ai/main/amazon-bedrock-reasoning.json#0", "body", 51, 78, 0, 0, "end_turn",
     "There are **3** r's in \"", 63, 0, true},
    {"vercel-ai/main/amazon-bedrock-text.chunks.txt#0", "stream", 22, 55, 0, 0, "end_turn",
     "Let me count the \"r\"s in", 109, 16, true},
    {"vercel-ai/main/amazon-bedrock-text.json#0", "body", 22, 57, 0, 0, "end_turn",
     "Let me count the \"r\"s in", 110, 0, true},
    {"vercel-ai/main/amazon-bedrock-tool-call.1.chunks.txt#0", "stream", 125, 45, 0, 0, "tool_use",
     "", 0, 6, true},
    {"vercel-ai/main/amazon-bedrock-tool-call.1.json#0", "body", 10, 20, 0, 0, "tool_use", "", 0, 0,
     true},
    {"vercel-ai/main/amazon-bedrock-tool-no-args.chunks.txt#0", "stream", 100, 25, 0, 0, "tool_use",
     "I'll update the issue li", 35, 8, true},
    {"vercel-ai/main/amazon-bedrock-tool-no-args.json#0", "body", 100, 25, 0, 0, "tool_use",
     "I'll update the issue li", 35, 0, true},
    {"pydantic-ai/converse/test_bedrock_anthropic_message_history_starting_with_response.yaml#0",
     "body", 29, 6, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_anthropic_tool_result_followed_by_document_accepted.yaml#0",
     "body", 658, 45, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_anthropic_tool_with_thinking.yaml#0", "body", 397, 130, 0,
     0, "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_anthropic_tool_with_thinking.yaml#1", "body", 539, 106, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_messages_with_document_as_last_content.yaml#0",
     "body", 3, 227, 0, 1712, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_messages_with_document_as_last_content.yaml#1",
     "body", 3, 121, 1712, 236, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_point_adds_cache_control[claude-sonnet-4-5].yaml#0",
     "body", 14, 5, 0, 1503, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_point_adds_cache_control[nova-lite].yaml#0", "body",
     10, 2, 0, 1298, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_usage_includes_cache_tokens.yaml#0", "body", 13, 5,
     1504, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_write_and_read.yaml#0", "body", 2, 5, 0, 1322,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_cache_write_and_read.yaml#1", "body", 2, 5, 1322, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_empty_system_prompt.yaml#0", "body", 7, 126, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_inference_profile_converse.yaml#0", "body", 8, 2, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_llama_tool_result_followed_by_text_accepted.yaml#0", "body",
     186, 2, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_media_kind_delivered_in_tool_result[meta_document].yaml#0",
     "body", 149, 19, 0, 0, "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_media_kind_delivered_in_tool_result[meta_document].yaml#1",
     "body", 208, 16, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_media_kind_delivered_in_tool_result[mistral_document].yaml#0",
     "body", 64, 17, 0, 0, "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_media_kind_delivered_in_tool_result[mistral_document].yaml#1",
     "body", 150, 34, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model.yaml#0", "body", 7, 30, 0, 0, "end_turn", nullptr, 0,
     0, true},
    {"pydantic-ai/converse/test_bedrock_model_anthropic_model_without_tools.yaml#0", "body", 21, 69,
     0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_guardrail_config.yaml#0", "body", 13, 69, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_instructions.yaml#0", "body", 13, 71, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_model_instructions_only_then_message_history[claude-sonnet-4-5].yaml#0",
     "body", 13, 12, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_model_instructions_only_then_message_history[claude-sonnet-4-5].yaml#1",
     "body", 32, 9, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_model_instructions_only_then_message_history[nova-micro].yaml#0",
     "body", 7, 10, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/"
     "test_bedrock_model_instructions_only_then_message_history[nova-micro].yaml#1",
     "body", 25, 27, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_max_tokens.yaml#0", "body", 13, 5, 0, 0, "max_tokens",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_other_parameters.yaml#0", "body", 13, 5, 0, 0,
     "max_tokens", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_performance_config.yaml#0", "body", 13, 67, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_retry.yaml#0", "body", 426, 66, 0, 0, "tool_use",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_retry.yaml#1", "body", 531, 76, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_service_tier.yaml#0", "body", 13, 5, 0, 0,
     "max_tokens", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_structured_output.yaml#0", "body", 571, 22, 0, 0,
     "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_structured_output.yaml#1", "body", 627, 67, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_structured_output.yaml#2", "body", 821, 31, 0, 0,
     "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic.yaml#0", "body", 42, 313, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic.yaml#1", "body", 334, 432, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_adaptive.yaml#0", "body", 14,
     322, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_adaptive.yaml#1", "body", 358,
     574, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_adaptive_effort.yaml#0",
     "body", 14, 280, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_adaptive_effort.yaml#1",
     "body", 316, 573, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_legacy.yaml#0", "body", 43,
     306, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_anthropic_legacy.yaml#1", "body", 341,
     501, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_deepseek.yaml#0", "body", 12, 693, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_deepseek.yaml#1", "body", 33, 907, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_from_other_model.yaml#1", "body", 1241,
     495, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_redacted.yaml#0", "body", 92, 176, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_redacted.yaml#1", "body", 182, 258, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_top_p.yaml#0", "body", 13, 41, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_usage_limit_not_exceeded.yaml#1", "body", 19, 108, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_with_code_execution_tool.yaml#0", "body", 1002, 59, 0,
     0, "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_with_code_execution_tool.yaml#1", "body", 1148, 59, 0,
     0, "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_with_extra_headers.yaml#0", "body", 2, 32, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_with_instructions_only[claude-sonnet-4-5].yaml#0",
     "body", 13, 12, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_model_with_instructions_only[nova-micro].yaml#0", "body", 7,
     10, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_moonshotai_tool_call.yaml#0", "body", 92, 75, 0, 0,
     "tool_use", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_moonshotai_tool_call.yaml#1", "body", 188, 11, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_multiple_documents_in_history.yaml#0", "body", 145, 48, 0,
     0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_nova_tool_result_followed_by_document_accepted.yaml#0",
     "body", 436, 193, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_thinking_true_qwen_variant.yaml#0", "body", 15, 86, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_top_k_anthropic_variant.yaml#0", "body", 14, 4, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_top_k_nova_variant.yaml#0", "body", 7, 2, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_writer_tool_result_followed_by_text_accepted.yaml#0",
     "body", 88, 1, 0, 0, "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_bedrock_zai_native_output.yaml#0", "body", 21, 15, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_document_url_input.yaml#1", "body", 68, 42, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_text_as_binary_content_input.yaml#0", "body", 21, 175, 0, 0,
     "end_turn", nullptr, 0, 0, true},
    {"pydantic-ai/converse/test_text_document_url_input.yaml#1", "body", 681, 157, 0, 0, "end_turn",
     nullptr, 0, 0, true},
    {"pydantic-ai/embeddings-invokemodel/TestBedrock.test_cohere_v4_with_dimensions.yaml#0",
     "headers", 3, 0, 0, 0, "", nullptr, 0, 0, true},
    {"pydantic-ai/embeddings-invokemodel/TestBedrock.test_nova_with_dimensions.yaml#0", "headers",
     18, 0, 0, 0, "", nullptr, 0, 0, true},
    {"pydantic-ai/embeddings-invokemodel/TestBedrock.test_titan_v2_with_dimensions.yaml#0",
     "headers", 4, 0, 0, 0, "", nullptr, 0, 0, true},
};

struct ErrorRow {
  const char* key;
  // The HTTP status; 0 when the recording keeps only the body (parsed as a 400, and only the
  // message is checked). Stream exceptions carry the status of the same error over HTTP.
  int status;
  const char* aws_code;  // nullptr: not checked
  const char* message_prefix;
};

constexpr ErrorRow kErrors[] = {
    {"openinference/js-nock/should-handle-api-error-scenarios.json#0", 400, "ValidationException",
     "The provided model identifier is invalid."},
    {"openinference/js-nock/should-handle-api-errors-gracefully.json#0", 400, "ValidationException",
     "The provided model identifier is invalid."},
    {"openinference/js-nock/should-handle-mistral-pixtral-models.json#0", 403,
     "AccessDeniedException", "You don't have access to the model with the spec"},
    {"openinference/js-nock/should-handle-streaming-api-errors-gracefully.json#0", 400,
     "ValidationException", "The provided model identifier is invalid."},
    {"openinference/js-nock/should-handle-streaming-errors.json#0", 400, "ValidationException",
     "The provided model identifier is invalid."},
    {"vercel-ai/branches/amazon-bedrock-empty-message-validation-error.json#0", 400,
     "ValidationException", "The content field in the Message object at messa"},
    {"vercel-ai/branches/amazon-bedrock-issue-11227-opus-4-5-error.json#0", 0, nullptr,
     "The model returned the following errors: Thinkin"},
    {"vercel-ai/branches/amazon-bedrock-mistral-duplicate-tool-call-ids-error.json#0", 0, nullptr,
     "The toolUse blocks at messages.2.content contain"},
    {"vercel-ai/branches/amazon-bedrock-s3-image-url.json#0", 0, nullptr,
     "The model returned the following errors: Provide"},
    {"vercel-ai/branches/bedrock-invalid-tool-name-validation-error.json#0", 0, nullptr,
     "1 validation error detected: Value at 'messages."},
    {"vercel-ai/branches/issue-17197-max-items-error.json#0", 0, nullptr,
     "The model returned the following errors: output_"},
    {"vercel-ai/branches/issue-18199-sonnet-5-strict-error.json#0", 0, nullptr,
     "The model returned the following errors: tools.0"},
    {"vercel-ai/branches/issue-7034-error.json#0", 0, nullptr,
     "User messages cannot contain reasoning content. "},
    {"vercel-ai/branches/issue-7830-empty-assistant-content-error.json#0", 0, nullptr,
     "The content field in the Message object at messa"},
    {"vercel-ai/branches/model-stream-error-exception.eventstream.base64.txt#0", 424,
     "ModelStreamErrorException", "Model Stream Error"},
    {"pydantic-ai/converse/test_bedrock_count_tokens_error.yaml#0", 400, "400",
     "The provided model identifier is invalid."},
    {"pydantic-ai/converse/test_bedrock_error.yaml#0", 400, "400",
     "The provided model identifier is invalid."},
    {"pydantic-ai/converse/test_bedrock_streaming_error.yaml#0", 400, "400",
     "The provided model identifier is invalid."},
};

struct CountRow {
  const char* key;
  int64_t input_tokens;
};

constexpr CountRow kCounts[] = {
    {"pydantic-ai/converse/test_bedrock_count_tokens_additional_model_requests_fields.yaml#0", 11},
    {"pydantic-ai/converse/test_bedrock_count_tokens_tool_config.yaml#0", 375},
    {"pydantic-ai/converse/test_bedrock_inference_profile_count_tokens.yaml#0", 11},
    {"pydantic-ai/converse/test_bedrock_model_usage_limit_exceeded.yaml#0", 23},
    {"pydantic-ai/converse/test_bedrock_model_usage_limit_not_exceeded.yaml#0", 19},
};

struct Exclusion {
  const char* key;  // a file, or one interaction of it ("file#index")
  const char* reason;
};

constexpr Exclusion kExcluded[] = {
    {"openinference/LICENSE", "license text"},
    {"pydantic-ai/LICENSE", "license text"},
    {"vercel-ai/LICENSE", "license text"},
    {"botocore-model/LICENSE.txt", "license text"},
    {"botocore-model/NOTICE", "license text"},
    {"botocore-model/service-2.json", "the bedrock-runtime API model, not a recording"},
    {"botocore-model/endpoint-rule-set-1.json", "endpoint rules, not a recording"},
    {"botocore-model/endpoint-tests-1.json", "endpoint test cases, not a recording"},
    {"pydantic-ai/errors-historical/test_bedrock_throttling_error.yaml",
     "hand-written 429s (no x-amzn-ErrorType or request id, body with __type), later deleted "
     "upstream; the replay server serves a 429 in the real format instead"},
    {"pydantic-ai/errors-historical/test_bedrock_server_error.yaml",
     "hand-written 500s (no x-amzn-ErrorType or request id), later deleted upstream"},
    {"pydantic-ai/errors-historical/test_bedrock_streaming_error.yaml",
     "hand-written 429s on ConverseStream, later deleted upstream"},
    {"openinference/python-vcr/test_apply_guardrails.yaml",
     "ApplyGuardrail: not an operation quotaflow parses (no tokens, no generation)"},
    {"openinference/python-vcr/test_apply_success_guardrails.yaml",
     "ApplyGuardrail: not an operation quotaflow parses (no tokens, no generation)"},
    {"vercel-ai/branches/issue-17523-unknown-operation.json",
     "a coral UnknownOperationException envelope from a misrouted request, not a "
     "bedrock-runtime response"},
    {"vercel-ai/branches/issue-17523-unknown-operation.chunks.txt",
     "the same envelope written as a stream line: not an event stream"},
    {"pydantic-ai/converse/test_bedrock_model_thinking_part_from_other_model.yaml#0",
     "a request to api.openai.com"},
    {"pydantic-ai/converse/test_document_url_input.yaml#0", "a PDF download from www.w3.org"},
    {"pydantic-ai/converse/test_text_document_url_input.yaml#0",
     "a text download from example-files.online-convert.com"},
};

// ---------------------------------------------------------------------------------------------
// Reading the recordings.

struct Interaction {
  std::string key;
  std::string op;  // the last segment of the request path ("converse", ...); "" if unrecorded
  bool bedrock = true;
  int status = 0;  // 0 when the recording has only a body
  aws::HttpHeaders headers;
  std::string body;
  bool parsed_body = false;  // body rebuilt from a pydantic-ai parsed_body (usage scalars only)
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string OpOf(std::string_view path) {
  path = path.substr(0, path.find('?'));
  return std::string(path.substr(path.rfind('/') + 1));
}

std::string HexDecode(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

// nock recordings (openinference js): an array of {scope, method, path, status, response,
// rawHeaders, responseIsBinary}; binary bodies are hex, JSON bodies are stored parsed.
std::vector<Interaction> ReadNock(const fs::path& file, const std::string& rel) {
  std::vector<Interaction> out;
  const json::value root = json::parse(ReadFile(file));
  const json::array& items = root.as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const json::object& item = items[i].as_object();
    Interaction it;
    it.key = rel + "#" + std::to_string(i);
    it.op = OpOf(item.at("path").as_string());
    it.bedrock = std::string_view(item.at("scope").as_string()).find("bedrock-runtime") !=
                 std::string_view::npos;
    it.status = static_cast<int>(item.at("status").to_number<int64_t>());
    const json::array& raw = item.at("rawHeaders").as_array();
    for (size_t h = 0; h + 1 < raw.size(); h += 2) {
      it.headers.emplace_back(std::string(raw[h].as_string()), std::string(raw[h + 1].as_string()));
    }
    const json::value& response = item.at("response");
    const json::value* binary = item.if_contains("responseIsBinary");
    if (binary != nullptr && binary->is_bool() && binary->get_bool()) {
      it.body = HexDecode(response.as_string());
    } else if (response.is_string()) {
      it.body = std::string(response.get_string());
    } else {
      it.body = json::serialize(response);
    }
    out.push_back(std::move(it));
  }
  return out;
}

// --- the VCR cassette reader ---

size_t Indent(std::string_view line) {
  const size_t n = line.find_first_not_of(' ');
  return n == std::string_view::npos ? line.size() : n;
}

bool Blank(std::string_view line) { return Indent(line) == line.size(); }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The scalar whose text starts with `value` on line `i`, for a key (or "- " item) at `indent`.
// Leaves `i` on the scalar's last line.
std::string ReadScalar(const std::vector<std::string_view>& lines, size_t& i,
                       std::string_view value, size_t indent) {
  auto deeper = [&](size_t j) {
    return j < lines.size() && (Blank(lines[j]) || Indent(lines[j]) > indent);
  };
  if (value.starts_with("!!binary")) {
    std::string base64;
    while (deeper(i + 1)) {
      const std::string_view line = lines[++i];
      base64.append(TrimRight(line.substr(Indent(line))));
    }
    std::optional<std::string> bytes = Base64Decode(base64);
    EXPECT_TRUE(bytes) << "bad !!binary block ending on line " << i + 1;
    return bytes.value_or("");
  }
  if (value.starts_with("|")) {  // literal block: only in excluded downloads
    std::string text;
    while (deeper(i + 1)) text.append(lines[++i]).append("\n");
    return text;
  }
  if (value.starts_with("'")) {
    // Single-quoted, folded over lines: a line break is a space, each blank line a '\n'; ''
    // is a quote; a continuation line's indentation and trailing spaces are not content.
    struct Segment {
      std::string text;
      bool blank = false;
    };
    std::vector<Segment> segments;
    std::string current;
    std::string_view line = value.substr(1);
    while (true) {
      size_t pos = 0;
      bool closed = false;
      for (; pos < line.size(); ++pos) {
        if (line[pos] != '\'') {
          current.push_back(line[pos]);
        } else if (pos + 1 < line.size() && line[pos + 1] == '\'') {
          current.push_back('\'');
          ++pos;
        } else {
          closed = true;
          break;
        }
      }
      if (closed || i + 1 >= lines.size()) {
        segments.push_back({current, false});
        break;
      }
      segments.push_back({std::string(TrimRight(current)), Blank(line) && !segments.empty()});
      current.clear();
      line = lines[++i];
      line.remove_prefix(Indent(line));
    }
    std::string text = segments[0].text;
    size_t newlines = 0;
    for (size_t k = 1; k < segments.size(); ++k) {
      if (segments[k].blank) {
        ++newlines;
        continue;
      }
      text.append(newlines > 0 ? std::string(newlines, '\n') : std::string(" "));
      text.append(segments[k].text);
      newlines = 0;
    }
    return text;
  }
  EXPECT_FALSE(value.starts_with("\"")) << "double-quoted scalars are not read here";
  std::string text(TrimRight(value));
  while (deeper(i + 1) && !Blank(lines[i + 1])) {
    const std::string_view line = lines[++i];
    text.append(" ").append(TrimRight(line.substr(Indent(line))));
  }
  return text;
}

// pydantic-ai's `parsed_body` (the JSON response re-serialised as YAML): only the scalars usage
// extraction needs, rebuilt as JSON. Leaves `i` on the block's last line.
std::string RebuildParsedBody(const std::vector<std::string_view>& lines, size_t& i) {
  json::object body;
  while (i + 1 < lines.size() && (Blank(lines[i + 1]) || Indent(lines[i + 1]) > 4)) {
    const std::string_view line = lines[++i];
    if (Indent(line) != 6) continue;
    const std::string_view content = line.substr(6);
    const size_t colon = content.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string key(content.substr(0, colon));
    const std::string_view value =
        colon + 1 < content.size() ? content.substr(colon + 2) : std::string_view();
    if (key == "stopReason" || key == "message" || key == "__type") {
      body[key] = ReadScalar(lines, i, value, 6);
    } else if (key == "inputTokens") {
      body[key] = std::stoll(std::string(value));
    } else if (key == "usage" && value.empty()) {
      json::object usage;
      while (i + 1 < lines.size() && Indent(lines[i + 1]) > 6 && !Blank(lines[i + 1])) {
        const std::string_view field = lines[++i];
        if (Indent(field) != 8) continue;  // cacheDetails items and the like
        const std::string_view f = field.substr(8);
        const size_t c = f.find(": ");
        if (c == std::string_view::npos) continue;
        const std::string_view number = f.substr(c + 2);
        if (number.find_first_not_of("0123456789") == std::string_view::npos) {
          usage[f.substr(0, c)] = std::stoll(std::string(number));
        }
      }
      body["usage"] = std::move(usage);
    }
  }
  return json::serialize(body);
}

std::vector<Interaction> ReadCassette(const fs::path& file, const std::string& rel) {
  const std::string text = ReadFile(file);
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(text.data() + start, end - start);
    start = end + 1;
  }
  std::vector<Interaction> out;
  bool in_response = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = TrimRight(lines[i]);
    if (Blank(line)) continue;
    const size_t indent = Indent(line);
    const std::string_view content = line.substr(indent);
    if (indent == 0 && content == "- request:") {
      out.emplace_back();
      out.back().key = rel + "#" + std::to_string(out.size() - 1);
      in_response = false;
    } else if (out.empty()) {
      continue;
    } else if (indent == 2 && content == "response:") {
      in_response = true;
    } else if (!in_response && indent == 4 && content.starts_with("uri: ")) {
      const std::string uri = ReadScalar(lines, i, content.substr(5), 4);
      out.back().op = OpOf(uri);
      out.back().bedrock = uri.find("bedrock-runtime") != std::string::npos;
    } else if (in_response && indent == 4 && content == "body:" && i + 1 < lines.size() &&
               Indent(lines[i + 1]) == 6 && lines[i + 1].substr(6).starts_with("string: ")) {
      ++i;
      out.back().body = ReadScalar(lines, i, TrimRight(lines[i]).substr(14), 6);
    } else if (in_response && indent == 4 && content == "parsed_body:") {
      out.back().parsed_body = true;
      out.back().body = RebuildParsedBody(lines, i);
    } else if (in_response && indent == 4 && content == "headers:") {
      std::string name;
      while (i + 1 < lines.size() && (Blank(lines[i + 1]) || Indent(lines[i + 1]) > 4)) {
        const std::string_view h = TrimRight(lines[++i]);
        if (Blank(h) || Indent(h) != 6) continue;
        if (h.substr(6).starts_with("- ")) {
          out.back().headers.emplace_back(name, ReadScalar(lines, i, h.substr(8), 6));
        } else if (h.ends_with(":")) {
          name = std::string(h.substr(6, h.size() - 7));
        }
      }
    } else if (in_response && indent == 4 && content == "status:" && i + 1 < lines.size()) {
      const std::string_view code = TrimRight(lines[++i]);
      if (code.substr(Indent(code)).starts_with("code: ")) {
        out.back().status = std::stoi(std::string(code.substr(Indent(code) + 6)));
      }
    }
  }
  return out;
}

// --- vercel-ai fixtures ---

std::string EventFrame(std::string event_type, std::string payload) {
  Result<std::string> frame =
      aws::EncodeEventStreamMessage({{{":event-type", std::move(event_type)},
                                      {":content-type", std::string("application/json")},
                                      {":message-type", std::string("event")}},
                                     std::move(payload)});
  EXPECT_TRUE(frame);
  return frame.value_or("");
}

std::vector<Interaction> ReadVercel(const fs::path& file, const std::string& rel) {
  Interaction it;
  it.key = rel + "#0";
  it.status = 200;
  const std::string text = ReadFile(file);
  if (rel.ends_with(".chunks.txt")) {
    // Decoded ConverseStream events, one `{"<event type>": payload}` per line: framed again.
    it.op = "converse-stream";
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.find_first_not_of(" \r") == std::string::npos) continue;
      const json::object event = json::parse(line).as_object();
      EXPECT_EQ(event.size(), 1u) << line;
      it.body +=
          EventFrame(std::string(event.begin()->key()), json::serialize(event.begin()->value()));
    }
  } else if (rel.ends_with(".eventstream.base64.txt")) {
    it.op = "converse-stream";
    it.body = Base64Decode(std::string(TrimRight(text.substr(0, text.find('\n'))))).value_or("");
  } else {
    const json::object root = json::parse(text).as_object();
    if (const json::value* response = root.if_contains("response"); response != nullptr) {
      it.op = "converse-stream";  // a live capture: {"response": {"status", "bodyBase64"}}
      it.status = static_cast<int>(response->at("status").to_number<int64_t>());
      it.body = Base64Decode(response->at("bodyBase64").as_string()).value_or("");
    } else if (root.contains("output") || root.contains("usage")) {
      it.op = "converse";
      it.body = text;
    } else if (root.contains("status") && root.contains("body")) {
      it.op = "converse";  // a recorded error: {"status", "headers", "body"}
      it.status = static_cast<int>(root.at("status").to_number<int64_t>());
      for (const auto& [name, value] : root.at("headers").as_object()) {
        it.headers.emplace_back(std::string(name), std::string(value.as_string()));
      }
      it.body = json::serialize(root.at("body"));
    } else {
      it.status = 0;  // an error body alone
      it.body = text;
    }
  }
  return {std::move(it)};
}

// ---------------------------------------------------------------------------------------------

std::vector<Interaction> ReadRecording(const fs::path& file, const std::string& rel) {
  if (rel.starts_with("openinference/js-nock/")) return ReadNock(file, rel);
  if (rel.ends_with(".yaml")) return ReadCassette(file, rel);
  if (rel.starts_with("vercel-ai/")) return ReadVercel(file, rel);
  ADD_FAILURE() << rel << ": no reader for this file; add one, or list it in kExcluded";
  return {};
}

// Every interaction of every recording that is not excluded as a whole, by key.
std::map<std::string, Interaction> LoadAll(const fs::path& dir) {
  std::set<std::string> excluded_files;
  for (const Exclusion& e : kExcluded) excluded_files.insert(e.key);
  std::map<std::string, Interaction> all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), dir).generic_string();
    if (excluded_files.contains(rel)) continue;
    for (Interaction& it : ReadRecording(entry.path(), rel)) all.emplace(it.key, std::move(it));
  }
  return all;
}

bool IsStream(const Interaction& it) {
  return it.op == "converse-stream" || it.op == "invoke-with-response-stream";
}

StreamKind KindOf(const Interaction& it) {
  return it.op == "converse-stream" ? StreamKind::kConverseStream
                                    : StreamKind::kInvokeModelWithResponseStream;
}

int CountFrames(std::string_view body) {
  aws::EventStreamDecoder decoder;
  decoder.Feed(body);
  int frames = 0;
  while (true) {
    Result<std::optional<aws::EventStreamMessage>> next = decoder.Next();
    if (!next || !next->has_value()) break;
    ++frames;
  }
  return frames;
}

struct StreamRun {
  Result<ModelResponse> final_response = tl::unexpected(Error());
  ModelResponse partial;
  std::vector<StreamEvent> events;
  std::optional<Error> feed_error;
};

StreamRun RunStream(const Interaction& it, size_t chunk_size) {
  StreamRun run;
  StreamParser parser(KindOf(it), "recorded");
  const std::string_view body = it.body;
  for (size_t i = 0; i < body.size() && !run.feed_error; i += chunk_size) {
    if (Status s = parser.Feed(body.substr(i, chunk_size), run.events); !s) {
      run.feed_error = s.error();
    }
  }
  run.final_response = parser.Finish();
  run.partial = parser.partial();
  return run;
}

class GoldenTable : public ::testing::Test {
 protected:
  void SetUp() override {
    QF_TESTDATA_DIR_OR_SKIP(dir, "bedrock-fixtures");
    dir_ = dir;
    all_ = LoadAll(dir_);
  }

  const Interaction* Find(const std::string& key) {
    auto it = all_.find(key);
    if (it == all_.end()) {
      ADD_FAILURE() << key << ": no such recording";
      return nullptr;
    }
    return &it->second;
  }

  fs::path dir_;
  std::map<std::string, Interaction> all_;
};

TEST_F(GoldenTable, CoversEveryRecording) {
  std::map<std::string, int> claims;
  for (const UsageRow& row : kUsage) ++claims[row.key];
  for (const ErrorRow& row : kErrors) ++claims[row.key];
  for (const CountRow& row : kCounts) ++claims[row.key];
  for (const Exclusion& e : kExcluded) ++claims[e.key];
  for (const auto& [key, count] : claims) EXPECT_EQ(count, 1) << key << " is listed twice";

  std::set<std::string> files_seen;
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file()) {
      files_seen.insert(fs::relative(entry.path(), dir_).generic_string());
    }
  }
  for (const auto& [key, it] : all_) {
    EXPECT_TRUE(claims.contains(key)) << key << " is neither in the golden table nor excluded";
  }
  for (const auto& [key, count] : claims) {
    EXPECT_TRUE(all_.contains(key) || files_seen.contains(key))
        << key << " names no recording (renamed or deleted?)";
  }
  // The whole data set, so that a shrunken checkout cannot pass by having less to check.
  EXPECT_EQ(files_seen.size(), 204u);
  EXPECT_EQ(std::size(kUsage) + std::size(kErrors) + std::size(kCounts), all_.size() - 3);
}

TEST_F(GoldenTable, UsageStopReasonAndText) {
  for (const UsageRow& row : kUsage) {
    SCOPED_TRACE(row.key);
    const Interaction* it = Find(row.key);
    if (it == nullptr) continue;
    ASSERT_EQ(it->status, 200);
    ModelResponse response;
    if (IsStream(*it)) {
      EXPECT_EQ(CountFrames(it->body), row.frames);
      const StreamRun run = RunStream(*it, 97);
      ASSERT_FALSE(run.feed_error) << run.feed_error->ToString();
      if (row.complete) {
        ASSERT_TRUE(run.final_response) << run.final_response.error().message;
        response = *run.final_response;
      } else {
        ASSERT_FALSE(run.final_response);
        EXPECT_EQ(run.final_response.error().code, ErrorCode::kProtocol);
        EXPECT_THAT(run.final_response.error().message, ::testing::HasSubstr("metadata"));
        response = run.partial;
      }
      // Every frame yields a typed event; a native chunk may yield several (text, stop, metrics).
      if (KindOf(*it) == StreamKind::kConverseStream) {
        EXPECT_EQ(run.events.size(), static_cast<size_t>(row.frames));
      } else {
        EXPECT_GE(run.events.size(), static_cast<size_t>(row.frames));
      }
      // The chunking the transport happens to deliver changes nothing.
      const StreamRun bytewise = RunStream(*it, 1);
      EXPECT_EQ(bytewise.events.size(), run.events.size());
      EXPECT_EQ(bytewise.partial.text, run.partial.text);
      EXPECT_EQ(bytewise.partial.usage.output_tokens, run.partial.usage.output_tokens);
    } else if (it->op == "converse") {
      Result<ModelResponse> parsed = ParseConverseResponse(it->headers, it->body);
      ASSERT_TRUE(parsed) << parsed.error().message;
      response = *parsed;
    } else {
      ASSERT_EQ(it->op, "invoke");
      Result<ModelResponse> parsed = ParseInvokeModelResponse(it->headers, it->body);
      ASSERT_TRUE(parsed) << parsed.error().message;
      response = *parsed;
    }
    EXPECT_EQ(UsageSourceName(response.usage_source), std::string_view(row.usage_source));
    if (row.input >= 0) {
      EXPECT_EQ(response.usage.input_tokens, row.input);
      EXPECT_EQ(response.usage.output_tokens, row.output);
      EXPECT_EQ(response.usage.cache_read_tokens, row.cache_read);
      EXPECT_EQ(response.usage.cache_write_tokens, row.cache_write);
    }
    EXPECT_EQ(response.stop_reason, std::string_view(row.stop_reason));
    if (row.text_prefix != nullptr) {
      EXPECT_EQ(response.text.size(), row.text_bytes);
      EXPECT_EQ(response.text.substr(0, std::string_view(row.text_prefix).size()), row.text_prefix);
    }
  }
}

TEST_F(GoldenTable, Errors) {
  for (const ErrorRow& row : kErrors) {
    SCOPED_TRACE(row.key);
    const Interaction* it = Find(row.key);
    if (it == nullptr) continue;
    Error error;
    if (IsStream(*it) && it->status == 200) {
      const StreamRun run = RunStream(*it, 13);
      ASSERT_TRUE(run.feed_error);
      error = *run.feed_error;
    } else {
      EXPECT_EQ(it->status, row.status);
      error =
          aws::ParseRestJsonError(it->status == 0 ? 400 : it->status, it->headers, it->body).error;
    }
    if (row.status != 0) {
      EXPECT_EQ(error.http_status, row.status);
    }
    if (row.aws_code != nullptr) {
      EXPECT_EQ(error.aws_code, row.aws_code);
    }
    EXPECT_THAT(error.message, ::testing::StartsWith(row.message_prefix));
  }
}

TEST_F(GoldenTable, CountTokens) {
  for (const CountRow& row : kCounts) {
    SCOPED_TRACE(row.key);
    const Interaction* it = Find(row.key);
    if (it == nullptr) continue;
    EXPECT_EQ(it->op, "count-tokens");
    Result<int64_t> tokens = ParseCountTokensResponse(it->body);
    ASSERT_TRUE(tokens) << tokens.error().message;
    EXPECT_EQ(*tokens, row.input_tokens);
  }
}

// eventstream/bedrock-recorded/ holds the same streams cut out of these recordings by another
// tool: the bytes this test reads out of nock hex, VCR !!binary and vercel base64 must be those.
TEST_F(GoldenTable, StreamBytesMatchTheDerivedEventStreams) {
  QF_TESTDATA_DIR_OR_SKIP(recorded, "eventstream/bedrock-recorded");
  std::set<std::string> matched;
  for (const auto& entry : fs::directory_iterator(recorded)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".decoded.json")) continue;
    SCOPED_TRACE(name);
    const json::object decoded = json::parse(ReadFile(entry.path())).as_object();
    std::string_view source = decoded.at("source").as_string();
    ASSERT_TRUE(source.starts_with("bedrock-fixtures/"));
    source.remove_prefix(std::string_view("bedrock-fixtures/").size());
    const std::string rel(source.substr(0, source.find(' ')));
    int index = 0;
    if (const size_t bracket = source.find('['); bracket != std::string_view::npos) {
      index = std::stoi(std::string(source.substr(bracket + 1)));
    }
    const std::string key = rel + "#" + std::to_string(index);
    const Interaction* it = Find(key);
    if (it == nullptr) continue;
    const std::string bin =
        ReadFile(entry.path().parent_path() / (name.substr(0, name.size() - 13) + ".bin"));
    EXPECT_EQ(it->body, bin) << key;
    EXPECT_EQ(CountFrames(it->body), decoded.at("message_count").to_number<int>());
    matched.insert(key);
  }
  EXPECT_EQ(matched.size(), 26u);
  for (const auto& [key, it] : all_) {
    if (IsStream(it) && it.status == 200 && !key.ends_with(".chunks.txt#0")) {
      EXPECT_TRUE(matched.contains(key)) << key << " has no derived .bin";
    }
  }
}

}  // namespace
}  // namespace quotaflow::bedrock
