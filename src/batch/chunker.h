#pragma once
// Splitting a document beyond the model's context window: each chunk is processed with the
// prompt, then the chunks' results are combined with a reduce prompt (map-reduce).
//
// Thread safety: pure functions; safe from many threads (count_tokens must be too, if shared).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace quotaflow::batch {

// Splits `text` into consecutive chunks of at most `max_tokens` each, as `count_tokens` counts
// them. Cuts fall at paragraph boundaries (after a blank line) where possible; a paragraph larger
// than `max_tokens` is cut after line ends, a line after sentence ends (". ", "! ", "? " and
// the CJK full stops), and a sentence, as a last resort, at a UTF-8 character boundary.
// Whitespace stays with the text before it. Chunks are filled greedily, so there are few of them.
// Guarantees: the chunks concatenated are `text` byte for byte; the same input gives the same
// chunks; text within max_tokens is one chunk (empty text: one empty chunk); every chunk is
// within max_tokens, except a chunk of a single character that alone counts more.
// count_tokens may be any function, additive or not (each chunk is checked with a real count);
// it is called O(number of pieces + log(text size) per hard cut) times.
// REQUIRES: max_tokens >= 1.
std::vector<std::string> SplitAtParagraphs(
    std::string_view text, int64_t max_tokens,
    const std::function<int64_t(std::string_view)>& count_tokens);

// The default prompt that combines the chunks' results into one: a PromptTemplate with
// {document} (the partial results, in order, joined with "\n\n---\n\n") and {filename}. Its
// instructions come first, so it is cacheable().
std::string_view DefaultReducePrompt();

// The separator that joins partial results into the reduce prompt's {document}.
inline constexpr std::string_view kPartialResultSeparator = "\n\n---\n\n";

}  // namespace quotaflow::batch
