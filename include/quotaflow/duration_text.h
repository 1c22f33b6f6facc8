#pragma once
// Durations as people write them in flags and config files: "250ms", "6s", "1m30s", "2h".

#include <string>
#include <string_view>

#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow {

// "0", or one or more <integer><unit> parts with unit ns, us, ms, s, m or h ("1m30s", "250ms").
// Whitespace, signs and fractions are not accepted. kInvalidArgument naming the text otherwise,
// or when the total does not fit in a Duration (about 292 years).
Result<Duration> ParseDuration(std::string_view text);

// The inverse of ParseDuration, shortest form first: "0", "250ms", "6s", "1m30s", "2h".
std::string FormatDuration(Duration duration);

}  // namespace quotaflow
