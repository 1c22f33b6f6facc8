#include "aws/eventstream.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <type_traits>
#include <utility>

namespace quotaflow::aws {
namespace {

constexpr size_t kMaxHeaderNameLength = 255;     // uint8 length prefix
constexpr size_t kMaxHeaderValueLength = 65535;  // uint16 length prefix of bytes and strings

uint32_t Crc32(std::string_view bytes) {
  // zlib's length is a uInt; frames are far below 4 GiB (the limits cap them near 25 MiB).
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

uint64_t LoadBigEndian(const char* p, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t LoadU32(const char* p) { return static_cast<uint32_t>(LoadBigEndian(p, 4)); }

void AppendBigEndian(std::string* out, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void StoreU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * (3 - i))) & 0xff);
}

std::string Hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. botocore
// decodes header strings with Python's codec, which is just as strict.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Lead byte: how many continuation bytes follow, the smallest code point that needs them
    // (anything below is an overlong form), and the lead byte's payload bits.
    size_t extra = 0;
    uint32_t min_cp = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      min_cp = 0x80;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      min_cp = 0x800;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      min_cp = 0x10000;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// A bounds-checked cursor over one frame's header block.
class HeaderReader {
 public:
  explicit HeaderReader(std::string_view block) : block_(block) {}

  bool done() const { return pos_ == block_.size(); }

  // The next `n` bytes, or std::nullopt (and nothing consumed) if fewer are left.
  std::optional<std::string_view> Take(size_t n) {
    if (block_.size() - pos_ < n) return std::nullopt;
    const std::string_view bytes = block_.substr(pos_, n);
    pos_ += n;
    return bytes;
  }

  // A big-endian integer; signed types get the two's complement of the wire bits.
  template <typename T>
  std::optional<T> TakeInt() {
    const std::optional<std::string_view> bytes = Take(sizeof(T));
    if (!bytes) return std::nullopt;
    return static_cast<T>(LoadBigEndian(bytes->data(), sizeof(T)));
  }

  // A uint16 length, then that many bytes.
  std::optional<std::string_view> TakeBlob() {
    const size_t saved = pos_;
    const std::optional<uint16_t> length = TakeInt<uint16_t>();
    std::optional<std::string_view> bytes = length ? Take(*length) : std::nullopt;
    if (!bytes) pos_ = saved;
    return bytes;
  }

 private:
  std::string_view block_;
  size_t pos_ = 0;
};

std::optional<std::string_view> FindDuplicateName(const std::vector<EventStreamHeader>& headers) {
  // Sorting beats a pairwise scan: a 128 KiB block can hold tens of thousands of headers.
  std::vector<std::string_view> names;
  names.reserve(headers.size());
  for (const EventStreamHeader& h : headers) names.emplace_back(h.name);
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup == names.end()) return std::nullopt;
  return *dup;
}

// Reads the header block of one frame; the error says what is wrong with it.
tl::expected<std::vector<EventStreamHeader>, std::string> ParseHeaders(std::string_view block) {
  auto fail = [](std::string what) { return tl::unexpected(std::move(what)); };
  std::vector<EventStreamHeader> headers;
  HeaderReader reader(block);
  while (!reader.done()) {
    const std::optional<uint8_t> name_length = reader.TakeInt<uint8_t>();
    const std::optional<std::string_view> name =
        name_length ? reader.Take(*name_length) : std::nullopt;
    if (!name) return fail("header name runs past the header block");
    if (!IsValidUtf8(*name)) return fail("header name is not UTF-8");
    const std::optional<uint8_t> type = reader.TakeInt<uint8_t>();
    if (!type) return fail("header '" + std::string(*name) + "' has no type");
    std::optional<EventStreamHeaderValue> value;
    switch (static_cast<EventStreamHeaderType>(*type)) {
      case EventStreamHeaderType::kBoolTrue:
        value = true;
        break;
      case EventStreamHeaderType::kBoolFalse:
        value = false;
        break;
      case EventStreamHeaderType::kByte:
        value = reader.TakeInt<int8_t>();
        break;
      case EventStreamHeaderType::kShort:
        value = reader.TakeInt<int16_t>();
        break;
      case EventStreamHeaderType::kInt:
        value = reader.TakeInt<int32_t>();
        break;
      case EventStreamHeaderType::kLong:
        value = reader.TakeInt<int64_t>();
        break;
      case EventStreamHeaderType::kTimestamp:
        if (std::optional<int64_t> ms = reader.TakeInt<int64_t>()) {
          value = EventStreamTimestamp(std::chrono::milliseconds(*ms));
        }
        break;
      case EventStreamHeaderType::kBytes:
        if (std::optional<std::string_view> bytes = reader.TakeBlob()) {
          value = EventStreamBytes(bytes->begin(), bytes->end());
        }
        break;
      case EventStreamHeaderType::kString:
        if (std::optional<std::string_view> s = reader.TakeBlob()) {
          if (!IsValidUtf8(*s)) return fail("header '" + std::string(*name) + "' is not UTF-8");
          value = std::string(*s);
        }
        break;
      case EventStreamHeaderType::kUuid:
        if (std::optional<std::string_view> bytes = reader.Take(sizeof(EventStreamUuid))) {
          EventStreamUuid uuid;
          std::copy(bytes->begin(), bytes->end(), uuid.begin());
          value = uuid;
        }
        break;
      default:
        return fail("header '" + std::string(*name) + "' has unknown type " +
                    std::to_string(*type));
    }
    if (!value) return fail("header '" + std::string(*name) + "' runs past the header block");
    headers.push_back(EventStreamHeader{std::string(*name), *std::move(value)});
  }
  if (std::optional<std::string_view> dup = FindDuplicateName(headers)) {
    return fail("duplicate header '" + std::string(*dup) + "'");
  }
  return headers;
}

Status AppendHeader(const EventStreamHeader& header, std::string* out) {
  if (header.name.size() > kMaxHeaderNameLength) {
    return tl::unexpected(Error::InvalidArgument("event stream: header name over 255 bytes"));
  }
  if (!IsValidUtf8(header.name)) {
    return tl::unexpected(Error::InvalidArgument("event stream: header name is not UTF-8"));
  }
  out->push_back(static_cast<char>(header.name.size()));
  out->append(header.name);
  const EventStreamHeaderType type = HeaderTypeOf(header.value);
  out->push_back(static_cast<char>(type));
  auto append_blob = [&](std::string_view blob) -> Status {
    if (blob.size() > kMaxHeaderValueLength) {
      return tl::unexpected(Error::InvalidArgument("event stream: header '" + header.name +
                                                   "' value over 65535 bytes"));
    }
    AppendBigEndian(out, blob.size(), 2);
    out->append(blob);
    return {};
  };
  switch (type) {
    case EventStreamHeaderType::kBoolTrue:
    case EventStreamHeaderType::kBoolFalse:
      return {};
    case EventStreamHeaderType::kByte:
      AppendBigEndian(out, static_cast<uint8_t>(std::get<int8_t>(header.value)), 1);
      return {};
    case EventStreamHeaderType::kShort:
      AppendBigEndian(out, static_cast<uint16_t>(std::get<int16_t>(header.value)), 2);
      return {};
    case EventStreamHeaderType::kInt:
      AppendBigEndian(out, static_cast<uint32_t>(std::get<int32_t>(header.value)), 4);
      return {};
    case EventStreamHeaderType::kLong:
      AppendBigEndian(out, static_cast<uint64_t>(std::get<int64_t>(header.value)), 8);
      return {};
    case EventStreamHeaderType::kTimestamp:
      AppendBigEndian(out,
                      static_cast<uint64_t>(
                          std::get<EventStreamTimestamp>(header.value).time_since_epoch().count()),
                      8);
      return {};
    case EventStreamHeaderType::kBytes: {
      const EventStreamBytes& bytes = std::get<EventStreamBytes>(header.value);
      return append_blob(
          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    }
    case EventStreamHeaderType::kString: {
      const std::string& s = std::get<std::string>(header.value);
      if (!IsValidUtf8(s)) {
        return tl::unexpected(Error::InvalidArgument("event stream: header '" + header.name +
                                                     "' string is not UTF-8"));
      }
      return append_blob(s);
    }
    case EventStreamHeaderType::kUuid: {
      const EventStreamUuid& uuid = std::get<EventStreamUuid>(header.value);
      out->append(reinterpret_cast<const char*>(uuid.data()), uuid.size());
      return {};
    }
  }
  return {};
}

}  // namespace

EventStreamHeaderType HeaderTypeOf(const EventStreamHeaderValue& value) {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        using Type = EventStreamHeaderType;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? Type::kBoolTrue : Type::kBoolFalse;
        } else if constexpr (std::is_same_v<T, int8_t>) {
          return Type::kByte;
        } else if constexpr (std::is_same_v<T, int16_t>) {
          return Type::kShort;
        } else if constexpr (std::is_same_v<T, int32_t>) {
          return Type::kInt;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return Type::kLong;
        } else if constexpr (std::is_same_v<T, EventStreamBytes>) {
          return Type::kBytes;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return Type::kString;
        } else if constexpr (std::is_same_v<T, EventStreamTimestamp>) {
          return Type::kTimestamp;
        } else {
          static_assert(std::is_same_v<T, EventStreamUuid>, "a new alternative needs a wire type");
          return Type::kUuid;
        }
      },
      value);
}

const EventStreamHeaderValue* EventStreamMessage::FindHeader(std::string_view name) const {
  for (const EventStreamHeader& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

std::string_view EventStreamMessage::StringHeader(std::string_view name) const {
  const EventStreamHeaderValue* value = FindHeader(name);
  if (value == nullptr) return {};
  const auto* s = std::get_if<std::string>(value);
  return s == nullptr ? std::string_view{} : std::string_view{*s};
}

void EventStreamDecoder::Feed(std::string_view bytes) {
  if (error_) return;
  // Compacting here, not in Next(), moves the unread tail once per chunk instead of once per frame.
  if (read_pos_ > 0) {
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<EventStreamMessage>> EventStreamDecoder::Next() {
  if (error_) return tl::unexpected(*error_);
  const std::string_view available = std::string_view{buffer_}.substr(read_pos_);
  if (available.size() < kEventStreamPreludeLength) return std::nullopt;
  if (pending_total_length_ == 0) {
    if (Status s = ReadPrelude(available.substr(0, kEventStreamPreludeLength)); !s) {
      return tl::unexpected(std::move(s).error());
    }
  }
  if (available.size() < pending_total_length_) return std::nullopt;

  const std::string_view frame = available.substr(0, pending_total_length_);
  const uint32_t message_crc = LoadU32(frame.data() + frame.size() - 4);
  if (const uint32_t computed = Crc32(frame.substr(0, frame.size() - 4)); computed != message_crc) {
    return tl::unexpected(Corrupt("message checksum mismatch (computed " + Hex32(computed) +
                                  ", frame has " + Hex32(message_crc) + ")"));
  }
  tl::expected<std::vector<EventStreamHeader>, std::string> headers =
      ParseHeaders(frame.substr(kEventStreamPreludeLength, pending_headers_length_));
  if (!headers) return tl::unexpected(Corrupt(headers.error()));

  EventStreamMessage message;
  message.headers = *std::move(headers);
  message.payload = std::string(
      frame.substr(kEventStreamPreludeLength + pending_headers_length_,
                   frame.size() - kEventStreamMinMessageLength - pending_headers_length_));
  read_pos_ += frame.size();
  stream_pos_ += frame.size();
  pending_total_length_ = 0;
  pending_headers_length_ = 0;
  return message;
}

Status EventStreamDecoder::ReadPrelude(std::string_view prelude) {
  const uint32_t total = LoadU32(prelude.data());
  const uint32_t headers_length = LoadU32(prelude.data() + 4);
  const uint32_t prelude_crc = LoadU32(prelude.data() + 8);
  // The checksum comes first, so that a corrupt length field is reported as corruption rather
  // than as an absurd size.
  if (const uint32_t computed = Crc32(prelude.substr(0, 8)); computed != prelude_crc) {
    return tl::unexpected(Corrupt("prelude checksum mismatch (computed " + Hex32(computed) +
                                  ", frame has " + Hex32(prelude_crc) + ")"));
  }
  if (total < kEventStreamMinMessageLength) {
    return tl::unexpected(
        Corrupt("total_length " + std::to_string(total) + " is below the minimum of 16"));
  }
  if (headers_length > kEventStreamMaxHeadersLength) {
    return tl::unexpected(Corrupt("headers_length " + std::to_string(headers_length) +
                                  " is over the limit of " +
                                  std::to_string(kEventStreamMaxHeadersLength)));
  }
  if (headers_length > total - kEventStreamMinMessageLength) {
    return tl::unexpected(Corrupt("headers_length " + std::to_string(headers_length) +
                                  " does not fit in total_length " + std::to_string(total)));
  }
  if (const uint32_t payload_length = total - kEventStreamMinMessageLength - headers_length;
      payload_length > kEventStreamMaxPayloadLength) {
    return tl::unexpected(Corrupt("payload_length " + std::to_string(payload_length) +
                                  " is over the limit of " +
                                  std::to_string(kEventStreamMaxPayloadLength)));
  }
  pending_total_length_ = total;
  pending_headers_length_ = headers_length;
  return {};
}

Status EventStreamDecoder::Finish() {
  if (error_) return tl::unexpected(*error_);
  const size_t left = buffer_.size() - read_pos_;
  if (left == 0) return {};
  const size_t expected =
      pending_total_length_ == 0 ? kEventStreamPreludeLength : pending_total_length_;
  return tl::unexpected(Corrupt("truncated: the body ended after " + std::to_string(left) + " of " +
                                std::to_string(expected) +
                                (pending_total_length_ == 0 ? " prelude bytes" : " bytes")));
}

Error EventStreamDecoder::Corrupt(const std::string& what) {
  error_ = Error::Protocol("event stream: " + what + " in the frame at byte " +
                           std::to_string(stream_pos_));
  // The bytes are useless now; release them rather than hold up to a frame's worth.
  std::string().swap(buffer_);
  read_pos_ = 0;
  return *error_;
}

Result<std::string> EncodeEventStreamMessage(const EventStreamMessage& message) {
  std::string out(kEventStreamPreludeLength, '\0');
  for (const EventStreamHeader& header : message.headers) {
    if (Status s = AppendHeader(header, &out); !s) return tl::unexpected(std::move(s).error());
  }
  const size_t headers_length = out.size() - kEventStreamPreludeLength;
  if (headers_length > kEventStreamMaxHeadersLength) {
    return tl::unexpected(Error::InvalidArgument(
        "event stream: headers of " + std::to_string(headers_length) +
        " bytes are over the limit of " + std::to_string(kEventStreamMaxHeadersLength)));
  }
  if (message.payload.size() > kEventStreamMaxPayloadLength) {
    return tl::unexpected(Error::InvalidArgument(
        "event stream: a payload of " + std::to_string(message.payload.size()) +
        " bytes is over the limit of " + std::to_string(kEventStreamMaxPayloadLength)));
  }
  if (std::optional<std::string_view> dup = FindDuplicateName(message.headers)) {
    return tl::unexpected(
        Error::InvalidArgument("event stream: duplicate header '" + std::string(*dup) + "'"));
  }

  out.append(message.payload);
  const auto total = static_cast<uint32_t>(out.size() + 4);
  StoreU32(out.data(), total);
  StoreU32(out.data() + 4, static_cast<uint32_t>(headers_length));
  StoreU32(out.data() + 8, Crc32(std::string_view{out}.substr(0, 8)));
  AppendBigEndian(&out, Crc32(out), 4);
  return out;
}

}  // namespace quotaflow::aws
