#include "batch/chunker.h"

#include <cstddef>
#include <span>
#include <utility>

#include "core/check.h"

namespace quotaflow::batch {
namespace {

// Where a piece of text may end, coarsest first.
enum class Level { kParagraph, kLine, kSentence, kCharacter };

bool IsInlineSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool IsSpace(char c) { return IsInlineSpace(c) || c == '\n' || c == '\f' || c == '\v'; }

// The ends of the pieces of `text` at `level` (not kCharacter); the last is text.size().
std::vector<size_t> PieceEnds(std::string_view text, Level level) {
  std::vector<size_t> ends;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    size_t end = 0;  // a piece ends here, if set
    if (level == Level::kParagraph && c == '\n') {
      // A blank line: '\n', then only spaces up to another '\n'. The cut goes after the last
      // newline of a run of blank lines; indentation stays with the next paragraph.
      size_t last_newline = i;
      int newlines = 1;
      for (size_t j = i + 1; j < n && (text[j] == '\n' || IsInlineSpace(text[j])); ++j) {
        if (text[j] == '\n') {
          last_newline = j;
          ++newlines;
        }
      }
      if (newlines >= 2) end = last_newline + 1;
      i = last_newline + 1;
    } else if (level == Level::kLine && c == '\n') {
      end = i + 1;
      i = end;
    } else if (level == Level::kSentence &&
               ((c == '.' || c == '!' || c == '?') && i + 1 < n && IsSpace(text[i + 1]))) {
      size_t j = i + 1;
      while (j < n && IsSpace(text[j])) ++j;
      end = j;
      i = j;
    } else if (level == Level::kSentence &&
               (text.substr(i).starts_with("\u3002") || text.substr(i).starts_with("\uff01") ||
                text.substr(i).starts_with("\uff1f"))) {
      size_t j = i + 3;  // 。！？ are three bytes each
      while (j < n && IsSpace(text[j])) ++j;
      end = j;
      i = j;
    } else {
      ++i;
    }
    if (end > 0 && end < n) ends.push_back(end);
  }
  ends.push_back(n);
  return ends;
}

class Splitter {
 public:
  Splitter(int64_t max_tokens, const std::function<int64_t(std::string_view)>& count_tokens)
      : max_tokens_(max_tokens), count_tokens_(count_tokens) {}

  std::vector<std::string> Take() && { return std::move(chunks_); }

  bool Fits(std::string_view text) const { return count_tokens_(text) <= max_tokens_; }

  // Appends `text` to pieces_ as pieces that each fit: its pieces at `level`, and those too large
  // cut at the finer levels.
  void Decompose(std::string_view text, Level level) {
    if (level == Level::kCharacter) {
      SplitHard(text);
      return;
    }
    const Level finer = static_cast<Level>(static_cast<int>(level) + 1);
    size_t begin = 0;
    for (const size_t end : PieceEnds(text, level)) {
      const std::string_view piece = text.substr(begin, end - begin);
      begin = end;
      const int64_t tokens = count_tokens_(piece);
      if (tokens <= max_tokens_) {
        pieces_.push_back({piece, tokens});
      } else {
        Decompose(piece, finer);
      }
    }
  }

  // Packs the pieces greedily by the sum of their counts; Flush checks each chunk with a real
  // count, since a tokenizer need not be additive.
  void Pack() {
    size_t first = 0;
    int64_t tokens = 0;
    for (size_t i = 0; i < pieces_.size(); ++i) {
      if (i > first && tokens + pieces_[i].tokens > max_tokens_) {
        Flush(std::span(pieces_).subspan(first, i - first));
        first = i;
        tokens = 0;
      }
      tokens += pieces_[i].tokens;
    }
    Flush(std::span(pieces_).subspan(first));
  }

 private:
  struct Piece {
    std::string_view text;
    int64_t tokens = 0;
  };

  // Emits consecutive pieces, each within max_tokens, as one chunk, or as several if together
  // they count more than their sum.
  void Flush(std::span<const Piece> pieces) {
    if (pieces.empty()) return;
    const char* const begin = pieces.front().text.data();
    const std::string_view joined(
        begin, static_cast<size_t>(pieces.back().text.data() + pieces.back().text.size() - begin));
    if (pieces.size() == 1 || Fits(joined)) {
      chunks_.emplace_back(joined);
      return;
    }
    const size_t half = pieces.size() / 2;
    Flush(pieces.first(half));
    Flush(pieces.subspan(half));
  }

  // Cuts at UTF-8 character boundaries: each piece the longest prefix that fits (at least one
  // character), found by galloping then bisecting, so each cut costs counts of about its own size.
  void SplitHard(std::string_view text) {
    std::vector<size_t> boundaries;  // character starts, then text.size()
    for (size_t i = 0; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) boundaries.push_back(i);
    }
    boundaries.push_back(text.size());
    size_t start = 0;  // index into boundaries
    const size_t last = boundaries.size() - 1;
    const auto prefix = [&](size_t chars) {
      return text.substr(boundaries[start], boundaries[start + chars] - boundaries[start]);
    };
    while (start < last) {
      const size_t remaining = last - start;
      size_t good = 1;  // characters known to fit (one always goes, fitting or not)
      size_t bad = remaining + 1;
      for (size_t probe = 2;; probe *= 2) {
        if (probe >= remaining) {
          if (Fits(prefix(remaining))) {
            good = remaining;
          } else {
            bad = remaining;
          }
          break;
        }
        if (!Fits(prefix(probe))) {
          bad = probe;
          break;
        }
        good = probe;
      }
      while (bad - good > 1 && good < remaining) {
        const size_t mid = good + (bad - good) / 2;
        if (Fits(prefix(mid))) {
          good = mid;
        } else {
          bad = mid;
        }
      }
      const std::string_view piece = prefix(good);
      pieces_.push_back({piece, count_tokens_(piece)});
      start += good;
    }
  }

  const int64_t max_tokens_;
  const std::function<int64_t(std::string_view)>& count_tokens_;
  std::vector<Piece> pieces_;
  std::vector<std::string> chunks_;
};

}  // namespace

std::vector<std::string> SplitAtParagraphs(
    std::string_view text, int64_t max_tokens,
    const std::function<int64_t(std::string_view)>& count_tokens) {
  QF_CHECK(max_tokens >= 1);
  Splitter splitter(max_tokens, count_tokens);
  if (splitter.Fits(text)) return {std::string(text)};
  splitter.Decompose(text, Level::kParagraph);
  splitter.Pack();
  return std::move(splitter).Take();
}

std::string_view DefaultReducePrompt() {
  return "The document named at the end was too long to process in one request, so it was split "
         "into consecutive parts and each part was processed separately with the same "
         "instructions. Below are the results for all the parts, in order, separated by lines "
         "containing only ---.\n"
         "\n"
         "Combine them into a single result, as if the whole document had been processed at "
         "once:\n"
         "- keep the format and structure that the partial results use;\n"
         "- merge entries that describe the same thing (the same party, date, obligation, fact "
         "or finding) into one entry;\n"
         "- keep every distinct item, including those that appear in only one part;\n"
         "- where parts contradict each other, keep both versions and say that they differ;\n"
         "- do not mention the parts or the splitting.\n"
         "Answer with the combined result only.\n"
         "\n"
         "Partial results:\n"
         "\n"
         "{document}\n"
         "\n"
         "(End of the partial results for the document {filename}.)\n";
}

}  // namespace quotaflow::batch
