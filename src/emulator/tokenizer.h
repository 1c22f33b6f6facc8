#pragma once
// The emulator's tokenizer: a deterministic stand-in for a model's tokenizer, deliberately unlike
// the client's estimator (core/token_estimator), so that a client which estimates input tokens is
// tested against counts it cannot reproduce by construction, as against Bedrock.
//
// Rules, applied left to right over UTF-8 text (English prose comes out near 4.5 characters per
// token, like the BPE tokenizers it imitates):
// - a run of ASCII letters, with at most one space directly before it: 1 token up to 6 letters,
//   then 1 more per started 4 letters ("The" 1, " contract" 2, " indemnification" 4); a run of
//   two or more capitals costs 1 token per started 2 letters (" MUST" 2, "RESPONSE" 4), as
//   shouting splits into many pieces in a BPE vocabulary;
// - a run of digits: 1 token per started 3 digits;
// - any other printable ASCII character: 1 token each;
// - a run of whitespace not absorbed by a word: 1 token per line break, else 1;
// - every other code point (accents, CJK, emoji): 1 token; a stray byte of a broken sequence: 1.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string_view>

namespace quotaflow::emulator {

int64_t CountTokens(std::string_view text);

}  // namespace quotaflow::emulator
