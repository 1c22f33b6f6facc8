#pragma once
// Priorities of documents from `--priority-rule` flags: "*urgent*=high", "archive/**=low",
// "size>20000=low", "size<2kb=high".
//
// Thread safety: a parsed PriorityRules is immutable; PriorityOf is safe from many threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "batch/inputs.h"
#include "quotaflow/error.h"

namespace quotaflow::batch {

// "high" 2, "normal" 1, "low" 0 (any case), or an integer 0..9 (higher runs first; the names are
// the scheduler's kPriorityHigh, kPriorityNormal, kPriorityLow). kInvalidArgument otherwise.
Result<int> ParsePriorityName(std::string_view name);

// "high", "normal", "low", else the number ("7"); "?" outside 0..9.
std::string_view PriorityName(int priority);

class PriorityRules {
 public:
  // Each rule is CONDITION=PRIORITY, split at the last '='; PRIORITY as ParsePriorityName reads it.
  // CONDITION is either
  //  - size>N, size>=N, size<N or size<=N: the document's size in bytes; N is a whole number
  //    that may end in b, k or kb (×1024), m or mb (×1024²), in any case;
  //  - a glob (GlobMatch: '*' not crossing '/', '**' crossing, '?', [...]) matched against the
  //    document's path (its id for inline text): the whole path or any tail of it that starts at
  //    a '/', so that "archive/**" matches "contracts/archive/old.txt" and "*urgent*" the base
  //    name of "contracts/urgent-nda.txt". A glob starting with '/' matches whole paths only.
  // kInvalidArgument naming the bad rule. No rules is valid: everything is normal.
  static Result<PriorityRules> Parse(const std::vector<std::string>& rules);

  // The document's manifest priority if it has one, else the priority of the first rule that
  // matches it, else normal (1).
  int PriorityOf(const Document& doc) const;

 private:
  struct Rule {
    enum class Kind { kGlob, kSizeAbove, kSizeAtLeast, kSizeBelow, kSizeAtMost };
    Kind kind = Kind::kGlob;
    std::string glob;
    int64_t size = 0;
    int priority = 1;
  };
  static bool Matches(const Rule& rule, const Document& doc);

  std::vector<Rule> rules_;
};

}  // namespace quotaflow::batch
