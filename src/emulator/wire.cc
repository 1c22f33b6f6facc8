#include "emulator/wire.h"

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <random>

namespace quotaflow::emulator {

std::string NewRequestId() {
  // A thread-local generator seeded once from the OS: ids only need to be unique, not secret.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  const uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t out = 0;
  for (int i = 0; i < 32; ++i) {
    if (out == 8 || out == 13 || out == 18 || out == 23) ++out;
    const uint64_t word = i < 16 ? hi : lo;
    id[out++] = kHex[(word >> (60 - 4 * (i % 16))) & 0xF];
  }
  return id;
}

server::ServerResponse JsonResponse(std::string body, std::string_view request_id,
                                    std::string_view content_type) {
  server::ServerResponse response;
  response.status = 200;
  response.headers.emplace_back("Content-Type", std::string(content_type));
  response.headers.emplace_back("x-amzn-RequestId", std::string(request_id));
  response.body = std::move(body);
  return response;
}

std::string JsonQuote(std::string_view text) {
  return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
}

server::ServerResponse RestJsonError(int status, std::string_view code, std::string_view message,
                                     std::string_view request_id) {
  server::ServerResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  response.headers.emplace_back(
      "x-amzn-ErrorType",
      std::string(code) + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
  response.headers.emplace_back("x-amzn-RequestId", std::string(request_id));
  response.body = "{\"message\":" + JsonQuote(message) + "}";
  return response;
}

server::ServerResponse AwsJsonError(int status, std::string_view content_type,
                                    std::string_view code, std::string_view message,
                                    std::string_view request_id, std::string_view query_error) {
  server::ServerResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", std::string(content_type));
  response.headers.emplace_back("x-amzn-RequestId", std::string(request_id));
  if (!query_error.empty()) {
    response.headers.emplace_back("x-amzn-query-error", std::string(query_error));
  }
  response.body = "{\"__type\":" + JsonQuote(code) + ",\"message\":" + JsonQuote(message) + "}";
  return response;
}

}  // namespace quotaflow::emulator
