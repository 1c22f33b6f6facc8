// libFuzzer target for the event stream codec; how to build and run it: docs/fuzzing.md.
//
// Each input is decoded twice over: as given (which mostly exercises the checksum and length
// checks) and with every frame's checksums rewritten to be valid (which lets mutations reach the
// header parser, where a random mutation would otherwise almost always fail the CRC first). Besides
// the sanitizers, each run checks the codec's contracts and aborts on a violation:
//   - the messages and the error do not depend on how the input is split into chunks;
//   - every error is kProtocol;
//   - decoding is lossless: re-encoding the decoded messages gives back the bytes they came from.

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/eventstream.h"

namespace quotaflow::aws {
namespace {

void Require(bool condition, const char* contract) {
  if (!condition) {
    std::fprintf(stderr, "event stream contract violated: %s\n", contract);
    std::abort();
  }
}

struct Outcome {
  std::vector<EventStreamMessage> messages;
  std::optional<Error> error;
};

// Feeds `input` in chunks of 1..64 bytes (now and then up to 4 KiB) drawn from `seed`; seed 0
// feeds it whole.
Outcome Decode(std::string_view input, uint32_t seed) {
  Outcome out;
  EventStreamDecoder decoder;
  uint32_t state = seed;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = input.size() - pos;
    if (seed != 0) {
      state ^= state << 13;  // xorshift32: deterministic, so that a crash reproduces
      state ^= state >> 17;
      state ^= state << 5;
      n = std::min<size_t>(n, 1 + ((state & 7) == 0 ? state % 4096 : state % 64));
    }
    decoder.Feed(input.substr(pos, n));
    pos += n;
    while (true) {
      Result<std::optional<EventStreamMessage>> next = decoder.Next();
      if (!next) {
        out.error = next.error();
        Require(decoder.failed(), "an error leaves the decoder failed");
        Require(!decoder.Next().has_value(), "the error is sticky");
        return out;
      }
      std::optional<EventStreamMessage>& message = *next;
      if (!message) break;
      out.messages.push_back(*std::move(message));
    }
  }
  if (Status s = decoder.Finish(); !s) out.error = s.error();
  return out;
}

uint32_t LoadU32(std::string_view s, size_t pos) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[pos + i]);
  return v;
}

void StoreU32(std::string* s, size_t pos, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) (*s)[pos + i] = static_cast<char>(v >> (24 - 8 * i));
}

uint32_t Crc(std::string_view s) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

// Rewrites the prelude and message checksums of each frame that fits in the input, walking the
// frames by their total_length fields.
std::string FixChecksums(std::string_view input) {
  std::string out(input);
  size_t pos = 0;
  while (input.size() - pos >= kEventStreamPreludeLength) {
    StoreU32(&out, pos + 8, Crc(std::string_view{out}.substr(pos, 8)));
    const uint32_t total = LoadU32(out, pos);
    if (total < kEventStreamMinMessageLength || total > input.size() - pos) break;
    StoreU32(&out, pos + total - 4, Crc(std::string_view{out}.substr(pos, total - 4)));
    pos += total;
  }
  return out;
}

void Exercise(std::string_view input, uint32_t seed) {
  const Outcome whole = Decode(input, 0);
  const Outcome chunked = Decode(input, seed);
  Require(chunked.messages == whole.messages, "chunking does not change the messages");
  // Same error text, too: it names the frame's offset, which must not depend on the chunking.
  Require(chunked.error.has_value() == whole.error.has_value() &&
              (!whole.error || chunked.error->message == whole.error->message),
          "chunking does not change the error");
  Require(!whole.error || whole.error->code == ErrorCode::kProtocol, "decode errors are kProtocol");

  std::string reencoded;
  for (const EventStreamMessage& m : whole.messages) {
    Result<std::string> bytes = EncodeEventStreamMessage(m);
    Require(bytes.has_value(), "a decoded message can be encoded");
    reencoded += *bytes;
  }
  Require(input.substr(0, reencoded.size()) == reencoded, "re-encoding reproduces the input");
  if (!whole.error) Require(reencoded.size() == input.size(), "a clean decode uses every byte");
}

}  // namespace
}  // namespace quotaflow::aws

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The split depends on the input, so that libFuzzer's mutations also explore chunkings.
  uint32_t seed = static_cast<uint32_t>(size) * 2654435761u;
  if (size > 0) seed ^= data[size - 1];
  seed |= 1;  // xorshift must not start at 0, which also means "whole"
  quotaflow::aws::Exercise(input, seed);
  quotaflow::aws::Exercise(quotaflow::aws::FixChecksums(input), seed);
  return 0;
}
