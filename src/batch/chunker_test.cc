#include "batch/chunker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "batch/inputs.h"
#include "batch/prompt_template.h"

namespace quotaflow::batch {
namespace {

using testing::ElementsAre;

// One token per character (UTF-8 code point): easy to reason about in examples.
int64_t CountCharacters(std::string_view text) {
  int64_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return count;
}

// About four bytes per token, rounded up: the shape of the real estimators.
int64_t CountQuarterBytes(std::string_view text) {
  return static_cast<int64_t>((text.size() + 3) / 4);
}

// Counts a whole text as more than the sum of its parts, as a tokenizer's merges across a cut can:
// the chunker must check each chunk with a real count, not trust the sum.
int64_t CountSuperAdditive(std::string_view text) {
  const auto n = static_cast<int64_t>(text.size());
  return (n + 3) / 4 + n / 64;
}

std::string Join(const std::vector<std::string>& chunks) {
  std::string out;
  for (const std::string& chunk : chunks) out += chunk;
  return out;
}

TEST(ChunkerTest, TextWithinTheLimitIsOneChunk) {
  EXPECT_THAT(SplitAtParagraphs("short text", 100, CountCharacters), ElementsAre("short text"));
  EXPECT_THAT(SplitAtParagraphs("", 1, CountCharacters), ElementsAre(""));
  EXPECT_THAT(SplitAtParagraphs("exactly10!", 10, CountCharacters), ElementsAre("exactly10!"));
}

TEST(ChunkerTest, CutsAtBlankLinesPackingParagraphsGreedily) {
  const std::string text = "aaaa\n\nbbbb\n\ncccc\n\ndddd";
  EXPECT_THAT(SplitAtParagraphs(text, 12, CountCharacters),
              ElementsAre("aaaa\n\nbbbb\n\n", "cccc\n\ndddd"));
  EXPECT_THAT(SplitAtParagraphs(text, 7, CountCharacters),
              ElementsAre("aaaa\n\n", "bbbb\n\n", "cccc\n\n", "dddd"));
}

TEST(ChunkerTest, WhitespaceStaysWithTheTextBefore) {
  // Blank lines may hold spaces; indentation of the next paragraph stays with it.
  const std::string text = "first para\n  \t\n\n  second para";
  EXPECT_THAT(SplitAtParagraphs(text, 16, CountCharacters),
              ElementsAre("first para\n  \t\n\n", "  second para"));
}

TEST(ChunkerTest, LongParagraphIsCutAtLineEnds) {
  const std::string text = "line one\nline two\nline three\n\nnext";
  EXPECT_THAT(SplitAtParagraphs(text, 20, CountCharacters),
              ElementsAre("line one\nline two\n", "line three\n\nnext"));
}

TEST(ChunkerTest, LongLineIsCutAtSentenceEnds) {
  const std::string text = "One sentence. Another one! A third? Yes. 終わり。次";
  EXPECT_THAT(SplitAtParagraphs(text, 16, CountCharacters),
              ElementsAre("One sentence. ", "Another one! ", "A third? Yes. ", "終わり。次"));
}

TEST(ChunkerTest, TextWithoutBreaksIsCutAtCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 25; ++i) text += "é€😀a";  // 2, 3, 4 and 1 bytes
  const std::vector<std::string> chunks = SplitAtParagraphs(text, 7, CountQuarterBytes);
  EXPECT_EQ(Join(chunks), text);
  ASSERT_GT(chunks.size(), 1u);
  for (const std::string& chunk : chunks) {
    EXPECT_EQ(FindInvalidUtf8(chunk), std::nullopt) << "cut inside a character";
    EXPECT_LE(CountQuarterBytes(chunk), 7);
  }
  // The longest prefix that fits is taken: 28 bytes is 7 tokens.
  EXPECT_GE(chunks[0].size(), 25u);
}

TEST(ChunkerTest, CharacterLargerThanTheLimitIsAChunkOfItsOwn) {
  const auto ten_per_character = [](std::string_view text) { return 10 * CountCharacters(text); };
  EXPECT_THAT(SplitAtParagraphs("ab€", 5, ten_per_character), ElementsAre("a", "b", "€"));
}

TEST(ChunkerTest, NonAdditiveCounterStillGetsChunksWithinTheLimit) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "Word " + std::to_string(i) + (i % 7 == 6 ? ".\n\n" : " ");
  const std::vector<std::string> chunks = SplitAtParagraphs(text, 100, CountSuperAdditive);
  EXPECT_EQ(Join(chunks), text);
  for (const std::string& chunk : chunks) EXPECT_LE(CountSuperAdditive(chunk), 100);
}

TEST(ChunkerTest, SameInputSameChunks) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "Paragraph " + std::to_string(i) + ".\n\n";
  EXPECT_EQ(SplitAtParagraphs(text, 50, CountQuarterBytes),
            SplitAtParagraphs(text, 50, CountQuarterBytes));
}

// Random documents of words, sentences, lines, blank lines and multi-byte characters, split with
// several limits and counters: the chunks always concatenate to the input and each fits.
class ChunkerPropertyTest : public testing::TestWithParam<uint32_t> {};

std::string RandomDocument(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "word", "contract", "the",  "Käufer", "契約", "😀", ". ", "! ",
      "? ",   "\n",       "\n\n", "\n \n",  "\r\n", "\t", "。", "xxxxxxxxxxxxxxxxxxxxxxxx"};
  std::uniform_int_distribution<size_t> length(0, 3000);
  std::uniform_int_distribution<size_t> pick(0, std::size(kPieces) - 1);
  const size_t pieces = length(rng);
  std::string text;
  for (size_t i = 0; i < pieces; ++i) {
    text += kPieces[pick(rng)];
    text += ' ';
  }
  return text;
}

TEST_P(ChunkerPropertyTest, ChunksConcatenateToTheInputAndEachFits) {
  std::mt19937 rng(GetParam());
  const std::string text = RandomDocument(rng);
  const std::function<int64_t(std::string_view)> counters[] = {CountCharacters, CountQuarterBytes,
                                                               CountSuperAdditive};
  for (const int64_t max_tokens :
       {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{250}, int64_t{4000}}) {
    for (const auto& count : counters) {
      const std::vector<std::string> chunks = SplitAtParagraphs(text, max_tokens, count);
      ASSERT_EQ(Join(chunks), text) << "max_tokens " << max_tokens;
      ASSERT_FALSE(chunks.empty());
      for (const std::string& chunk : chunks) {
        ASSERT_FALSE(chunk.empty() && !text.empty());
        ASSERT_EQ(FindInvalidUtf8(chunk), std::nullopt);
        // Every character counts at most 1 with these counters, so every chunk can fit.
        ASSERT_LE(count(chunk), max_tokens) << chunk;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ChunkerPropertyTest, testing::Range(1u, 41u));

// The largest example contract, split for a small context: cuts fall only at blank lines, since
// no paragraph of it is larger than a chunk.
TEST(ChunkerTest, ContractIsCutOnlyAtBlankLines) {
  Document doc;
  doc.path = std::string(QUOTAFLOW_SOURCE_DIR) + "/examples/contracts/msa-northwind-silverline.txt";
  Result<DocumentContent> content = ReadDocument(doc);
  ASSERT_TRUE(content) << content.error().message;
  const std::vector<std::string> chunks =
      SplitAtParagraphs(content->bytes, 2000, CountQuarterBytes);
  EXPECT_EQ(Join(chunks), content->bytes);
  EXPECT_GE(chunks.size(), 7u);  // 58,819 bytes is about 14,700 tokens
  EXPECT_LE(chunks.size(), 9u);  // greedy packing leaves few chunks
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(CountQuarterBytes(chunks[i]), 2000);
    if (i + 1 < chunks.size()) {
      EXPECT_TRUE(chunks[i].ends_with("\n\n")) << "chunk " << i;
    }
  }
}

TEST(ReducePromptTest, IsACacheableTemplateWithDocumentAndFilename) {
  Result<PromptTemplate> reduce = PromptTemplate::Parse(DefaultReducePrompt());
  ASSERT_TRUE(reduce) << reduce.error().message;
  EXPECT_TRUE(reduce->cacheable());
  const std::string partials = "result one" + std::string(kPartialResultSeparator) + "result two";
  Result<std::string> out = reduce->Render(TemplateFields{partials, "big.txt", nullptr});
  ASSERT_TRUE(out);
  EXPECT_NE(out->find("result one\n\n---\n\nresult two"), std::string::npos);
  EXPECT_NE(out->find("big.txt"), std::string::npos);
}

}  // namespace
}  // namespace quotaflow::batch
