#include "batch/priority_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

#include "quotaflow/scheduler.h"

namespace quotaflow::batch {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "20000", "2k", "2kb", "3mb": a whole number of bytes with an optional binary suffix.
Result<int64_t> ParseSize(std::string_view text) {
  const auto invalid = [text](std::string_view why) {
    return tl::make_unexpected(
        Error::InvalidArgument("size \"" + std::string(text) + "\": " + std::string(why)));
  };
  text = Trim(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return invalid("too large");
  if (ec != std::errc() || value < 0) {
    return invalid("expected a number of bytes, e.g. 20000, 20k or 2mb");
  }
  const std::string suffix = Lower(Trim(std::string_view(end, text.data() + text.size() - end)));
  int64_t unit = 1;
  if (suffix == "k" || suffix == "kb") {
    unit = 1024;
  } else if (suffix == "m" || suffix == "mb") {
    unit = int64_t{1024} * 1024;
  } else if (!suffix.empty() && suffix != "b") {
    return invalid("unknown unit \"" + suffix + "\" (expected k, kb, m or mb)");
  }
  if (value > std::numeric_limits<int64_t>::max() / unit) return invalid("too large");
  return value * unit;
}

}  // namespace

Result<int> ParsePriorityName(std::string_view name) {
  const std::string lower = Lower(Trim(name));
  if (lower == "high") return kPriorityHigh;
  if (lower == "normal") return kPriorityNormal;
  if (lower == "low") return kPriorityLow;
  if (lower.size() == 1 && lower[0] >= '0' && lower[0] <= '9') return lower[0] - '0';
  return tl::make_unexpected(Error::InvalidArgument("unknown priority \"" + std::string(name) +
                                                    "\" (expected high, normal, low or 0 to 9)"));
}

std::string_view PriorityName(int priority) {
  static constexpr std::array<std::string_view, 10> kNames = {"low", "normal", "high", "3", "4",
                                                              "5",   "6",      "7",    "8", "9"};
  static_assert(kPriorityLow == 0 && kPriorityNormal == 1 && kPriorityHigh == 2);
  if (priority < 0 || priority >= static_cast<int>(kNames.size())) return "?";
  return kNames[static_cast<size_t>(priority)];
}

Result<PriorityRules> PriorityRules::Parse(const std::vector<std::string>& rules) {
  PriorityRules parsed;
  for (const std::string& text : rules) {
    const auto invalid = [&text](std::string_view why) {
      return tl::make_unexpected(Error::InvalidArgument(
          fmt::format("priority rule \"{}\": {} (expected e.g. '*urgent*=high', 'archive/**=low' "
                      "or 'size>20kb=low')",
                      text, why)));
    };
    const std::string_view rule_text = text;
    const size_t equals = rule_text.rfind('=');
    if (equals == std::string_view::npos) return invalid("no '=' before the priority");
    const std::string_view condition = Trim(rule_text.substr(0, equals));
    Result<int> priority = ParsePriorityName(rule_text.substr(equals + 1));
    if (!priority) return invalid(priority.error().message);
    if (condition.empty()) return invalid("nothing to match before '='");
    Rule rule;
    rule.priority = *priority;
    std::string_view rest = condition.starts_with("size") ? Trim(condition.substr(4)) : "";
    if (!rest.empty() && (rest.front() == '<' || rest.front() == '>')) {
      const bool above = rest.front() == '>';
      const bool inclusive = rest.size() > 1 && rest[1] == '=';
      rest.remove_prefix(inclusive ? 2 : 1);
      Result<int64_t> size = ParseSize(rest);
      if (!size) return invalid(size.error().message);
      rule.kind = above ? (inclusive ? Rule::Kind::kSizeAtLeast : Rule::Kind::kSizeAbove)
                        : (inclusive ? Rule::Kind::kSizeAtMost : Rule::Kind::kSizeBelow);
      rule.size = *size;
    } else {
      // "**/" in front makes the glob match any tail of the path that starts after a '/'.
      rule.glob =
          condition.starts_with('/') ? std::string(condition) : "**/" + std::string(condition);
    }
    parsed.rules_.push_back(std::move(rule));
  }
  return parsed;
}

bool PriorityRules::Matches(const Rule& rule, const Document& doc) {
  switch (rule.kind) {
    case Rule::Kind::kGlob:
      return GlobMatch(rule.glob, doc.path.empty() ? doc.id : doc.path);
    case Rule::Kind::kSizeAbove:
      return doc.size_bytes > rule.size;
    case Rule::Kind::kSizeAtLeast:
      return doc.size_bytes >= rule.size;
    case Rule::Kind::kSizeBelow:
      return doc.size_bytes < rule.size;
    case Rule::Kind::kSizeAtMost:
      return doc.size_bytes <= rule.size;
  }
  return false;
}

int PriorityRules::PriorityOf(const Document& doc) const {
  if (doc.priority) return *doc.priority;
  for (const Rule& rule : rules_) {
    if (Matches(rule, doc)) return rule.priority;
  }
  return kPriorityNormal;
}

}  // namespace quotaflow::batch
