#include "batch/prompt_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "aws/test_process.h"

namespace quotaflow::batch {
namespace {

using testing::HasSubstr;
using testing_util::TempDir;

// TemplateFields by position: GCC 12 warns about designated initializers that leave members out.
TemplateFields Fields(std::string document, std::string filename = "",
                      const std::map<std::string, std::string>* metadata = nullptr) {
  return TemplateFields{std::move(document), std::move(filename), metadata};
}

PromptTemplate MustParse(std::string_view text) {
  Result<PromptTemplate> parsed = PromptTemplate::Parse(text);
  if (!parsed) {
    ADD_FAILURE() << parsed.error().message;
    return *PromptTemplate::Parse("{document}");
  }
  return *std::move(parsed);
}

std::string ParseError(std::string_view text) {
  Result<PromptTemplate> parsed = PromptTemplate::Parse(text);
  if (parsed) return "parsed";
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  return parsed.error().message;
}

TEST(PromptTemplateTest, RendersEveryPlaceholder) {
  const std::map<std::string, std::string> metadata = {{"client", "Acme"}, {"region", "EU"}};
  const PromptTemplate t =
      MustParse("Review {filename} for {metadata.client} ({metadata.region}):\n{document}\nEnd.");
  Result<std::string> out = t.Render(Fields("TEXT", "a.txt", &metadata));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "Review a.txt for Acme (EU):\nTEXT\nEnd.");
}

TEST(PromptTemplateTest, DoubledBracesAreLiteral) {
  const PromptTemplate t = MustParse("Answer as {{\"parties\": [...]}}.\n\n{document}");
  Result<std::string> out = t.Render(Fields("{document} stays as it is"));
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "Answer as {\"parties\": [...]}.\n\n{document} stays as it is");
}

TEST(PromptTemplateTest, DocumentMayAppearTwice) {
  const PromptTemplate t = MustParse("{document}|{document}");
  EXPECT_EQ(t.Render(Fields("x")), "x|x");
}

TEST(PromptTemplateTest, UnknownPlaceholderNamesLineAndColumn) {
  EXPECT_THAT(ParseError("Summarise.\n  see {documnet}"),
              HasSubstr("line 2, column 7: unknown placeholder {documnet}"));
  EXPECT_THAT(ParseError("{document} {metadata.}"),
              HasSubstr("line 1, column 12: unknown placeholder {metadata.}"));
  // A JSON example without doubled braces: the message says how to write one.
  const std::string json = ParseError(
      "Answer as {\"parties\": [\"a very long list of the names of the parties\"]}\n{document}");
  EXPECT_THAT(
      json, HasSubstr("line 1, column 11: unknown placeholder {\"parties\": [\"a very long list"));
  EXPECT_THAT(json, HasSubstr("...}"));
  EXPECT_THAT(json, HasSubstr("write {{ and }} for literal braces"));
}

TEST(PromptTemplateTest, ColumnsCountCharactersNotBytes) {
  EXPECT_THAT(ParseError("Résumé: {nope} {document}"), HasSubstr("line 1, column 9:"));
}

TEST(PromptTemplateTest, UnclosedBraceIsAnError) {
  EXPECT_THAT(ParseError("{document}\nand {filename"),
              HasSubstr("line 2, column 5: '{' is not closed on its line"));
  EXPECT_THAT(ParseError("{document\n}"), HasSubstr("line 1, column 1: '{' is not closed"));
}

TEST(PromptTemplateTest, LoneClosingBraceIsAnError) {
  EXPECT_THAT(ParseError("{document} }"), HasSubstr("line 1, column 12: a lone '}'"));
}

TEST(PromptTemplateTest, TemplateWithoutDocumentIsAnError) {
  EXPECT_THAT(ParseError("Summarise {filename}."), HasSubstr("no {document} placeholder"));
  EXPECT_THAT(ParseError(""), HasSubstr("no {document} placeholder"));
}

TEST(PromptTemplateTest, MissingMetadataKeyFailsThatDocument) {
  const PromptTemplate t = MustParse("{document}\nClient: {metadata.client}");
  const std::map<std::string, std::string> other = {{"region", "EU"}};
  Result<std::string> out = t.Render(Fields("d", "", &other));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(out.error().message, HasSubstr("line 2, column 9: {metadata.client}: "
                                             "metadata key client missing for this document"));
  EXPECT_FALSE(t.Render(Fields("d")));  // no metadata at all
}

TEST(PromptTemplateTest, RenderSplitPutsTheSharedInstructionsFirst) {
  const PromptTemplate t =
      MustParse("Extract the parties {{as JSON}}.\n\n{document}\n({filename})");
  EXPECT_TRUE(t.cacheable());
  Result<PromptTemplate::Split> split = t.RenderSplit(Fields("DOC", "a.txt"));
  ASSERT_TRUE(split) << split.error().message;
  EXPECT_EQ(split->shared_prefix, "Extract the parties {as JSON}.\n\n");
  EXPECT_EQ(split->rest, "DOC\n(a.txt)");
  EXPECT_EQ(split->shared_prefix + split->rest, t.Render(Fields("DOC", "a.txt")));
}

TEST(PromptTemplateTest, PerDocumentPlaceholderBeforeDocumentIsNotCacheable) {
  const PromptTemplate t = MustParse("Review {filename}:\n{document}");
  EXPECT_FALSE(t.cacheable());
  Result<PromptTemplate::Split> split = t.RenderSplit(Fields("d", "f"));
  ASSERT_FALSE(split);
  EXPECT_EQ(split.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(split.error().message,
              HasSubstr("line 1, column 8: {filename} comes before {document}"));
  EXPECT_FALSE(MustParse("For {metadata.client}: {document}").cacheable());
}

TEST(PromptTemplateTest, NothingBeforeDocumentIsNotCacheable) {
  EXPECT_FALSE(MustParse("{document}\nSummarise it.").cacheable());
  EXPECT_FALSE(MustParse(" \n\n{document}").cacheable());
  Result<PromptTemplate::Split> split = MustParse("{document} x").RenderSplit(Fields("d"));
  ASSERT_FALSE(split);
  EXPECT_THAT(split.error().message, HasSubstr("no instructions before {document}"));
}

TEST(PromptTemplateTest, FixedSizeCountsTheLiteralText) {
  EXPECT_EQ(MustParse("{document}").FixedSize(), 0u);
  EXPECT_EQ(MustParse("abc {{}}\n{document} {filename}{metadata.k}!").FixedSize(),
            std::string("abc {}\n !").size());
}

TEST(PromptTemplateTest, LoadNamesTheFileInErrors) {
  TempDir dir("qf-template");
  ASSERT_TRUE(dir.ok());
  const std::string good = dir.Write("good.txt", "Summarise:\n{document}\n");
  Result<PromptTemplate> loaded = PromptTemplate::Load(good);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->Render(Fields("D")), "Summarise:\nD\n");

  const std::string bad = dir.Write("bad.txt", "Summarise:\n  {documnet}\n");
  Result<PromptTemplate> error = PromptTemplate::Load(bad);
  ASSERT_FALSE(error);
  EXPECT_THAT(error.error().message, HasSubstr(bad + ":2:3: unknown placeholder {documnet}"));

  const std::string no_document = dir.Write("none.txt", "Summarise.\n");
  ASSERT_FALSE(PromptTemplate::Load(no_document));
  EXPECT_THAT(PromptTemplate::Load(no_document).error().message,
              HasSubstr(no_document + ": no {document} placeholder"));

  Result<PromptTemplate> missing = PromptTemplate::Load(dir.path() / "missing.txt");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
  EXPECT_THAT(missing.error().message, HasSubstr("missing.txt: No such file or directory"));

  const std::string binary = dir.Write("binary.txt", std::string("{document}\0", 11));
  ASSERT_FALSE(PromptTemplate::Load(binary));
  EXPECT_THAT(PromptTemplate::Load(binary).error().message, HasSubstr("NUL byte at offset 10"));
}

// The prompts shipped in examples/ must parse and keep their instructions before {document}, so
// that --cache-prompt can cache them.
TEST(PromptTemplateTest, ExamplePromptsAreCacheable) {
  for (const char* name : {"prompt.txt", "prompt-standard.txt", "prompt-minimal.txt"}) {
    SCOPED_TRACE(name);
    Result<PromptTemplate> loaded =
        PromptTemplate::Load(std::filesystem::path(QUOTAFLOW_SOURCE_DIR) / "examples" / name);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_TRUE(loaded->cacheable());
    EXPECT_TRUE(loaded->RenderSplit(Fields("d", "f.txt")));
  }
}

}  // namespace
}  // namespace quotaflow::batch
