#pragma once
// The AWS event stream codec (`application/vnd.amazon.eventstream`): the binary framing of
// ConverseStream and InvokeModelWithResponseStream bodies. Wire format: bedrock-wire.md section 3.
//
// A frame is a 12-byte prelude (total_length, headers_length, CRC32 of both), typed headers, a
// payload and a CRC32 of everything before it. The decoder takes the body in whatever chunks the
// transport delivers and never throws: corruption is a kProtocol Error, and a decoder that has
// seen one stays failed, because after a bad frame there is no way to find the next boundary.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow::aws {

// Limits from botocore (eventstream.py); AWS SDKs reject frames beyond them, so do we, before
// buffering a frame whose prelude announces more.
inline constexpr uint32_t kEventStreamPreludeLength = 12;     // total_length, headers_length, CRC
inline constexpr uint32_t kEventStreamMinMessageLength = 16;  // prelude + message CRC
inline constexpr uint32_t kEventStreamMaxHeadersLength = 128 * 1024;
inline constexpr uint32_t kEventStreamMaxPayloadLength = 24 * 1024 * 1024;

// Wire type codes of header values.
enum class EventStreamHeaderType : uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,
  kShort = 3,
  kInt = 4,
  kLong = 5,
  kBytes = 6,
  kString = 7,
  kTimestamp = 8,
  kUuid = 9,
};

using EventStreamBytes = std::vector<uint8_t>;  // type 6; std::string is type 7
using EventStreamTimestamp = std::chrono::sys_time<std::chrono::milliseconds>;
using EventStreamUuid = std::array<uint8_t, 16>;

// One alternative per wire type, except that both bool types map to `bool` (the type code is the
// value). Every wire type maps to exactly one alternative, so decode + encode is lossless.
// Integer alternatives are exact: write `int8_t{-1}` for a byte, `int16_t{42}` for a short; a
// plain `42` is an int32 and a string literal is a std::string.
using EventStreamHeaderValue =
    std::variant<bool, int8_t, int16_t, int32_t, int64_t, EventStreamBytes, std::string,
                 EventStreamTimestamp, EventStreamUuid>;

// The wire type `value` is encoded as.
EventStreamHeaderType HeaderTypeOf(const EventStreamHeaderValue& value);

struct EventStreamHeader {
  std::string name;
  EventStreamHeaderValue value;

  friend bool operator==(const EventStreamHeader&, const EventStreamHeader&) = default;
};

// One frame. Headers keep their wire order (names are unique, the decoder enforces it) so that
// re-encoding a decoded message reproduces its bytes exactly.
struct EventStreamMessage {
  std::vector<EventStreamHeader> headers;
  std::string payload;  // raw bytes; JSON for every Bedrock event, but not checked here

  // The value of header `name`, or nullptr. Valid until `headers` changes.
  const EventStreamHeaderValue* FindHeader(std::string_view name) const;
  // The value of string header `name`; empty when it is absent or not a string.
  std::string_view StringHeader(std::string_view name) const;

  // `event`, `exception` or `error`.
  std::string_view MessageType() const { return StringHeader(":message-type"); }
  // For events: the union member name (`chunk`, `messageStart`, ...).
  std::string_view EventType() const { return StringHeader(":event-type"); }
  // For exceptions: the member name in lowerCamel (`throttlingException`), not the HTTP-level
  // `ThrottlingException`; the payload is `{"message":"..."}`.
  std::string_view ExceptionType() const { return StringHeader(":exception-type"); }
  std::string_view ContentType() const { return StringHeader(":content-type"); }
  // For `:message-type error` frames, which carry their error in headers, not in the payload.
  std::string_view ErrorCode() const { return StringHeader(":error-code"); }
  std::string_view ErrorMessage() const { return StringHeader(":error-message"); }

  friend bool operator==(const EventStreamMessage&, const EventStreamMessage&) = default;
};

// Incremental decoder for one response body.
//
//   EventStreamDecoder decoder;
//   for each chunk received:
//     decoder.Feed(chunk);
//     while (true) {
//       Result<std::optional<EventStreamMessage>> next = decoder.Next();
//       if (!next) return next.error();  // corrupt stream: abandon the request
//       if (!*next) break;               // need more bytes
//       Handle(**next);
//     }
//   at end of body: if (Status s = decoder.Finish(); !s) return s.error();  // truncated
//
// Memory: buffers at most one incomplete frame plus the unread part of the last chunk; a frame
// whose prelude exceeds the limits above fails before its body is buffered.
// Thread safety: not thread-safe. One decoder per stream, used by one thread at a time.
class EventStreamDecoder {
 public:
  EventStreamDecoder() = default;
  EventStreamDecoder(const EventStreamDecoder&) = delete;
  EventStreamDecoder& operator=(const EventStreamDecoder&) = delete;
  EventStreamDecoder(EventStreamDecoder&&) = default;
  EventStreamDecoder& operator=(EventStreamDecoder&&) = default;

  // Appends bytes of any length (one byte is fine). Decoding happens in Next(). Ignored once the
  // decoder has failed.
  void Feed(std::string_view bytes);

  // The next complete message; std::nullopt when more bytes are needed; a kProtocol Error when
  // the stream is corrupt (bad checksum, a length over the limits, a malformed or duplicate
  // header, a header name or string value that is not UTF-8, as botocore also rejects). After an
  // error, every later call returns the same error.
  Result<std::optional<EventStreamMessage>> Next();

  // Call at the end of the body, after Next() has returned std::nullopt: a kProtocol Error if the
  // body ended inside a frame (the decoder then fails), or the earlier error if it had failed.
  Status Finish();

  bool failed() const { return error_.has_value(); }

 private:
  // Checks the prelude of the frame at read_pos_ and sets pending_*.
  Status ReadPrelude(std::string_view prelude);
  // Enters the failed state with a kProtocol error locating `what` in the stream.
  Error Corrupt(const std::string& what);

  std::string buffer_;       // bytes fed and not yet returned as messages, from read_pos_ on
  size_t read_pos_ = 0;      // start of the next frame in buffer_
  uint64_t stream_pos_ = 0;  // offset of the next frame in the whole stream, for error messages
  // The checked prelude of the frame at read_pos_; 0 until checked (a valid total is >= 16).
  // Kept so that a large frame fed byte by byte is not rechecked on every call.
  uint32_t pending_total_length_ = 0;
  uint32_t pending_headers_length_ = 0;
  std::optional<Error> error_;
};

// Encodes one frame with both checksums. InvalidArgument if the message is not representable or
// would be rejected by a decoder: a header name over 255 bytes, a duplicate name, a bytes or
// string value over 65535 bytes, a name or string value that is not UTF-8, headers over
// kEventStreamMaxHeadersLength or a payload over kEventStreamMaxPayloadLength.
Result<std::string> EncodeEventStreamMessage(const EventStreamMessage& message);

}  // namespace quotaflow::aws
