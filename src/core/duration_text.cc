#include "quotaflow/duration_text.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <limits>
#include <system_error>

namespace quotaflow {
namespace {

struct DurationUnit {
  std::string_view suffix;
  Duration::rep nanoseconds;
};
// Two-letter suffixes first, so that "5ms" is not read as 5 minutes followed by "s".
constexpr DurationUnit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  const auto invalid = [text](std::string_view why) {
    return tl::make_unexpected(Error::InvalidArgument("invalid duration \"" + std::string(text) +
                                                      "\": " + std::string(why)));
  };
  constexpr std::string_view kExpected =
      "expected e.g. \"250ms\", \"6s\", \"1m30s\", \"2h\" or \"0\"";
  if (text == "0") return Duration::zero();
  if (text.empty()) return invalid(kExpected);
  if (text.front() == '-') return invalid("durations cannot be negative");
  constexpr Duration::rep kMax = std::numeric_limits<Duration::rep>::max();
  Duration::rep total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i;
    while (end < text.size() && IsDigit(text[end])) ++end;
    if (end == i) return invalid(kExpected);
    Duration::rep count = 0;
    if (std::from_chars(text.data() + i, text.data() + end, count).ec != std::errc()) {
      return invalid("too long");
    }
    const std::string_view rest = text.substr(end);
    const DurationUnit* unit = nullptr;
    for (const DurationUnit& candidate : kUnits) {
      if (rest.starts_with(candidate.suffix)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) {
      return invalid(rest.empty() ? "missing unit (ns, us, ms, s, m or h)" : kExpected);
    }
    if (count > kMax / unit->nanoseconds || total > kMax - count * unit->nanoseconds) {
      return invalid("too long");
    }
    total += count * unit->nanoseconds;
    i = end + unit->suffix.size();
  }
  return Duration(total);
}

std::string FormatDuration(Duration duration) {
  if (duration == Duration::zero()) return "0";
  std::string out = duration < Duration::zero() ? "-" : "";
  // The magnitude as unsigned, which holds even Duration::min()'s.
  const auto count = static_cast<uint64_t>(duration.count());
  uint64_t left = duration < Duration::zero() ? 0 - count : count;
  // Largest unit first, so that 90 s prints as "1m30s", the way one would write it.
  for (std::string_view suffix : {"h", "m", "s", "ms", "us", "ns"}) {
    const auto unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                                   [&](const DurationUnit& u) { return u.suffix == suffix; });
    const auto unit_ns = static_cast<uint64_t>(unit->nanoseconds);
    if (left < unit_ns) continue;
    out += std::to_string(left / unit_ns) + std::string(suffix);
    left %= unit_ns;
  }
  return out;
}

}  // namespace quotaflow
