#pragma once
// How Bedrock charges one request against TPM, as plain arithmetic (see ARCHITECTURE.md):
// reserve `input + max_tokens` at the start (the model's maximum output when max_tokens is absent),
// settle to `input + cache_write + output × burndown` at the end. Cache reads do not count.

#include <cstdint>
#include <optional>

#include "quotaflow/limiter.h"

namespace quotaflow {

struct Usage {
  int64_t input_tokens = 0;  // as Converse reports it: excludes cached tokens
  int64_t output_tokens = 0;
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
};

// The reservation Bedrock makes at the start of a request.
inline Cost ReservationCost(int64_t input_tokens, std::optional<int64_t> max_tokens,
                            int64_t model_max_output) {
  return Cost{
      .requests = 1, .tokens = input_tokens + max_tokens.value_or(model_max_output), .slots = 1};
}

// What the request finally costs: burndown is 5 on recent Claude models, 1 elsewhere.
inline int64_t SettledTokens(const Usage& u, int64_t burndown) {
  return u.input_tokens + u.cache_write_tokens + u.output_tokens * burndown;
}

}  // namespace quotaflow
