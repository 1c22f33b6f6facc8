#include "batch/inputs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "aws/test_process.h"

namespace quotaflow::batch {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;
using testing_util::TempDir;

std::vector<std::string> Ids(const CollectedInputs& inputs) {
  std::vector<std::string> ids;
  ids.reserve(inputs.documents.size());
  for (const Document& doc : inputs.documents) ids.push_back(doc.id);
  return ids;
}

// Runs a test body in another working directory, for paths relative to it.
class ScopedWorkingDirectory {
 public:
  explicit ScopedWorkingDirectory(const std::filesystem::path& dir)
      : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ScopedWorkingDirectory(const ScopedWorkingDirectory&) = delete;
  ScopedWorkingDirectory& operator=(const ScopedWorkingDirectory&) = delete;
  ~ScopedWorkingDirectory() { std::filesystem::current_path(previous_); }

 private:
  std::filesystem::path previous_;
};

class InputsTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()) << "mkdtemp failed"; }
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  TempDir dir_{"qf-inputs"};
};

TEST_F(InputsTest, FileArgumentIsOneDocumentWithItsPathAsId) {
  const std::string file = dir_.Write("a.txt", "hello");
  Result<CollectedInputs> inputs = CollectInputs({file});
  ASSERT_TRUE(inputs) << inputs.error().message;
  ASSERT_EQ(inputs->documents.size(), 1u);
  const Document& doc = inputs->documents[0];
  EXPECT_EQ(doc.id, file);
  EXPECT_EQ(doc.path, file);
  EXPECT_FALSE(doc.inline_text);
  EXPECT_FALSE(doc.priority);
  EXPECT_EQ(doc.size_bytes, 5);
  EXPECT_TRUE(inputs->problems.empty());
}

TEST_F(InputsTest, DirectoryIsWalkedRecursivelySortedSkippingHiddenEntries) {
  dir_.Write("docs/b.txt", "b");
  dir_.Write("docs/a.txt", "a");
  dir_.Write("docs/sub/c.md", "c");
  dir_.Write("docs/.hidden.txt", "h");
  dir_.Write("docs/.git/config", "g");
  dir_.Write("docs/list.jsonl", "{\"not\": \"a manifest here\"}\n");
  Result<CollectedInputs> inputs = CollectInputs({Path("docs")});
  ASSERT_TRUE(inputs) << inputs.error().message;
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("docs/a.txt"), Path("docs/b.txt"),
                                        Path("docs/list.jsonl"), Path("docs/sub/c.md")));
  EXPECT_TRUE(inputs->problems.empty());
}

TEST_F(InputsTest, RelativePathsStayRelativeInIds) {
  dir_.Write("docs/a.txt", "a");
  dir_.Write("docs/sub/b.txt", "b");
  const ScopedWorkingDirectory cwd(dir_.path());
  Result<CollectedInputs> inputs = CollectInputs({"docs", "docs/sub/../a.txt"});
  ASSERT_TRUE(inputs) << inputs.error().message;
  EXPECT_THAT(Ids(*inputs), ElementsAre("docs/a.txt", "docs/sub/b.txt", "docs/sub/../a.txt"));
}

TEST_F(InputsTest, MissingPathFailsThatArgumentOnly) {
  const std::string file = dir_.Write("a.txt", "a");
  Result<CollectedInputs> inputs = CollectInputs({Path("missing.txt"), file});
  ASSERT_TRUE(inputs) << inputs.error().message;
  EXPECT_THAT(Ids(*inputs), ElementsAre(file));
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_EQ(inputs->problems[0].id, Path("missing.txt"));
  EXPECT_EQ(inputs->problems[0].reason, "no such file or directory");
}

TEST_F(InputsTest, NoArgumentsIsAnError) {
  Result<CollectedInputs> inputs = CollectInputs({});
  ASSERT_FALSE(inputs);
  EXPECT_EQ(inputs.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(InputsTest, EmptyDirectoryIsAProblem) {
  std::filesystem::create_directories(dir_.path() / "empty");
  Result<CollectedInputs> inputs = CollectInputs({Path("empty")});
  ASSERT_TRUE(inputs);
  EXPECT_TRUE(inputs->documents.empty());
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_THAT(inputs->problems[0].reason, HasSubstr("no files"));
}

TEST_F(InputsTest, StarGlobMatchesWithinOneDirectorySorted) {
  dir_.Write("d/b.txt", "b");
  dir_.Write("d/a.txt", "a");
  dir_.Write("d/c.md", "c");
  dir_.Write("d/sub/e.txt", "e");
  dir_.Write("d/.h.txt", "h");
  Result<CollectedInputs> inputs = CollectInputs({Path("d/*.txt")});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("d/a.txt"), Path("d/b.txt")));
}

TEST_F(InputsTest, DoubleStarGlobCrossesDirectories) {
  dir_.Write("d/x.md", "x");
  dir_.Write("d/a/b/y.md", "y");
  dir_.Write("d/a/z.txt", "z");
  dir_.Write("d/.hidden/w.md", "w");
  Result<CollectedInputs> inputs = CollectInputs({Path("d/**/*.md")});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("d/a/b/y.md"), Path("d/x.md")));
  EXPECT_TRUE(inputs->problems.empty());

  Result<CollectedInputs> all = CollectInputs({Path("d/**")});
  ASSERT_TRUE(all);
  EXPECT_THAT(Ids(*all), ElementsAre(Path("d/a/b/y.md"), Path("d/a/z.txt"), Path("d/x.md")));
}

TEST_F(InputsTest, RelativeGlobGivesRelativeIds) {
  dir_.Write("a/one.txt", "1");
  dir_.Write("a/b/two.txt", "2");
  dir_.Write("three.txt", "3");
  const ScopedWorkingDirectory cwd(dir_.path());
  Result<CollectedInputs> inputs = CollectInputs({"**/*.txt", "[a]/*.txt"});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre("a/b/two.txt", "a/one.txt", "three.txt"));
  // The second glob found a/one.txt again.
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_EQ(inputs->problems[0].id, "a/one.txt");
  EXPECT_THAT(inputs->problems[0].reason, HasSubstr("duplicate id"));
}

TEST_F(InputsTest, GlobMatchingADirectoryTakesItsFiles) {
  dir_.Write("runs/2024-01/a.txt", "a");
  dir_.Write("runs/2024-02/b.txt", "b");
  dir_.Write("runs/2023-12/c.txt", "c");
  Result<CollectedInputs> inputs = CollectInputs({Path("runs/2024-*")});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("runs/2024-01/a.txt"), Path("runs/2024-02/b.txt")));
}

TEST_F(InputsTest, GlobMatchingNothingIsAProblem) {
  dir_.Write("d/a.txt", "a");
  Result<CollectedInputs> inputs = CollectInputs({Path("d/*.pdf"), Path("nowhere/**/*.txt")});
  ASSERT_TRUE(inputs);
  EXPECT_TRUE(inputs->documents.empty());
  ASSERT_EQ(inputs->problems.size(), 2u);
  EXPECT_EQ(inputs->problems[0].id, Path("d/*.pdf"));
  EXPECT_EQ(inputs->problems[0].reason, "no file matches this pattern");
  EXPECT_EQ(inputs->problems[1].id, Path("nowhere/**/*.txt"));
}

TEST_F(InputsTest, ExistingFileWithGlobCharactersInItsNameIsThatFile) {
  const std::string file = dir_.Write("report[1].txt", "r");
  Result<CollectedInputs> inputs = CollectInputs({file});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(file));
}

TEST_F(InputsTest, ArgumentsKeepTheirOrderEachSorted) {
  dir_.Write("z/b.txt", "b");
  dir_.Write("z/a.txt", "a");
  const std::string first = dir_.Write("first.txt", "f");
  Result<CollectedInputs> inputs = CollectInputs({Path("z"), first});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("z/a.txt"), Path("z/b.txt"), first));
}

TEST_F(InputsTest, DuplicateIdIsAProblemAndTheFirstStays) {
  const std::string file = dir_.Write("a.txt", "a");
  Result<CollectedInputs> inputs = CollectInputs({file, file});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(file));
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_EQ(inputs->problems[0].id, file);
  EXPECT_THAT(inputs->problems[0].reason, HasSubstr("duplicate id"));
}

TEST_F(InputsTest, ManifestWithInlineTextPathPriorityAndMetadata) {
  dir_.Write("jobs/docs/contract.txt", "The contract.");
  const std::string manifest =
      dir_.Write("jobs/batch.jsonl",
                 "{\"id\": \"c-1\", \"path\": \"docs/contract.txt\", \"priority\": \"high\", "
                 "\"metadata\": {\"client\": \"Acme\", \"pages\": 12, \"signed\": true}}\n"
                 "\n"
                 "{\"id\": \"note-7\", \"text\": \"An inline note.\", \"priority\": 0}\r\n"
                 "{\"path\": \"docs/contract.txt\", \"id\": 42, \"priority\": 7}\n"
                 "{\"path\": \"docs/contract.txt\"}");
  Result<CollectedInputs> inputs = CollectInputs({manifest});
  ASSERT_TRUE(inputs) << inputs.error().message;
  EXPECT_TRUE(inputs->problems.empty()) << inputs->problems[0].reason;
  ASSERT_EQ(inputs->documents.size(), 4u);

  const Document& contract = inputs->documents[0];
  EXPECT_EQ(contract.id, "c-1");
  EXPECT_EQ(contract.path, Path("jobs/docs/contract.txt"));
  EXPECT_EQ(contract.priority, 2);
  EXPECT_EQ(contract.size_bytes, 13);
  EXPECT_THAT(contract.metadata,
              ElementsAre(std::pair<const std::string, std::string>{"client", "Acme"},
                          std::pair<const std::string, std::string>{"pages", "12"},
                          std::pair<const std::string, std::string>{"signed", "true"}));

  const Document& note = inputs->documents[1];
  EXPECT_EQ(note.id, "note-7");
  EXPECT_EQ(note.path, "");
  EXPECT_EQ(note.inline_text, "An inline note.");
  EXPECT_EQ(note.priority, 0);
  EXPECT_EQ(note.size_bytes, 15);

  EXPECT_EQ(inputs->documents[2].id, "42");
  EXPECT_EQ(inputs->documents[2].priority, 7);
  // Without an id, the id is the path as collected.
  EXPECT_EQ(inputs->documents[3].id, Path("jobs/docs/contract.txt"));
  EXPECT_FALSE(inputs->documents[3].priority);
}

TEST_F(InputsTest, ManifestPathIsRelativeToTheManifestDirectory) {
  dir_.Write("m/a.txt", "a");
  dir_.Write("m/list.jsonl", "{\"path\": \"a.txt\"}\n");
  const ScopedWorkingDirectory cwd(dir_.path());
  Result<CollectedInputs> inputs = CollectInputs({"m/list.jsonl"});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre("m/a.txt"));
  EXPECT_EQ(inputs->documents[0].path, "m/a.txt");
}

TEST_F(InputsTest, MalformedManifestLinesAreProblemsNamingFileAndLine) {
  dir_.Write("a.txt", "a");
  const std::string manifest =
      dir_.Write("m.jsonl",
                 "{\"path\": \"a.txt\"}\n"                                       // 1 ok
                 "{\"path\": \"a.txt\"\n"                                        // 2
                 "[1, 2]\n"                                                      // 3
                 "{\"id\": \"x\", \"path\": \"a.txt\", \"text\": \"t\"}\n"       // 4
                 "{\"id\": \"y\", \"pth\": \"a.txt\"}\n"                         // 5
                 "{\"id\": \"z\", \"text\": \"t\", \"priority\": \"urgent\"}\n"  // 6
                 "{\"text\": \"t\"}\n"                                           // 7
                 "{\"id\": \"w\", \"text\": \"t\", \"priority\": 10}\n"          // 8
                 "{\"id\": \"v\", \"text\": \"t\", \"metadata\": [1]}\n"         // 9
                 "{\"id\": \"u\"}\n"                                             // 10
                 "{\"id\": \"ok\", \"text\": \"fine\"}\n");                      // 11 ok
  Result<CollectedInputs> inputs = CollectInputs({manifest});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(Path("a.txt"), "ok"));
  ASSERT_EQ(inputs->problems.size(), 9u);
  const auto& p = inputs->problems;
  EXPECT_EQ(p[0].id, manifest + ":2");
  EXPECT_EQ(p[0].path, manifest);
  EXPECT_THAT(p[0].reason, HasSubstr(manifest + ":2: invalid JSON"));
  EXPECT_THAT(p[1].reason, HasSubstr(":3: expected a JSON object, got an array"));
  EXPECT_EQ(p[2].id, "x");
  EXPECT_THAT(p[2].reason, HasSubstr(":4: has both \"path\" and \"text\""));
  EXPECT_THAT(p[3].reason, HasSubstr(":5: unknown key \"pth\""));
  EXPECT_THAT(p[4].reason, HasSubstr(":6: \"priority\": unknown priority \"urgent\""));
  EXPECT_EQ(p[5].id, manifest + ":7");
  EXPECT_THAT(p[5].reason, HasSubstr(":7: a document given as \"text\" needs an \"id\""));
  EXPECT_THAT(p[6].reason, HasSubstr(":8: \"priority\" must be high, normal, low or an integer"));
  EXPECT_THAT(p[7].reason, HasSubstr(":9: \"metadata\" must be an object"));
  EXPECT_THAT(p[8].reason, HasSubstr(":10: needs \"path\""));
}

TEST_F(InputsTest, ManifestPathThatDoesNotExistFailsThatDocument) {
  const std::string manifest = dir_.Write(
      "m.jsonl", "{\"id\": \"gone\", \"path\": \"gone.txt\"}\n{\"id\": \"t\", \"text\": \"x\"}\n");
  Result<CollectedInputs> inputs = CollectInputs({manifest});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre("t"));
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_EQ(inputs->problems[0].id, "gone");
  EXPECT_EQ(inputs->problems[0].path, Path("gone.txt"));
  EXPECT_EQ(inputs->problems[0].reason, "no such file or directory (listed at " + manifest + ":1)");
}

TEST_F(InputsTest, EmptyManifestIsAProblem) {
  const std::string manifest = dir_.Write("m.jsonl", "\n  \n");
  Result<CollectedInputs> inputs = CollectInputs({manifest});
  ASSERT_TRUE(inputs);
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_EQ(inputs->problems[0].reason, "the manifest lists no documents");
}

TEST_F(InputsTest, DuplicateIdAcrossManifestAndFiles) {
  const std::string file = dir_.Write("a.txt", "a");
  const std::string manifest = dir_.Write("m.jsonl", "{\"path\": \"a.txt\"}\n");
  Result<CollectedInputs> inputs = CollectInputs({file, manifest});
  ASSERT_TRUE(inputs);
  EXPECT_THAT(Ids(*inputs), ElementsAre(file));
  ASSERT_EQ(inputs->problems.size(), 1u);
  EXPECT_THAT(inputs->problems[0].reason, HasSubstr("duplicate id"));
}

// ---- ReadDocument ------------------------------------------------------------------------------

Document FileDocument(const std::string& path) {
  Document doc;
  doc.id = path;
  doc.path = path;
  return doc;
}

TEST_F(InputsTest, ReadsUtf8TextWithItsFormat) {
  const std::string file = dir_.Write("notes.MD", "# Überschrift\n\n契約書 😀\n");
  Result<DocumentContent> content = ReadDocument(FileDocument(file));
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(content->bytes, "# Überschrift\n\n契約書 😀\n");
  EXPECT_EQ(content->format, DocumentFormat::kMarkdown);
}

TEST_F(InputsTest, EmptyFileFailsThatDocument) {
  const std::string file = dir_.Write("empty.txt", "");
  Result<DocumentContent> content = ReadDocument(FileDocument(file));
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(content.error().message, file + ": empty file");
  EXPECT_FALSE(ReadDocument(FileDocument(file), /*as_text=*/false));
}

TEST_F(InputsTest, NulByteMeansBinary) {
  const std::string file = dir_.Write("blob.txt", std::string("abc\0def", 7));
  Result<DocumentContent> content = ReadDocument(FileDocument(file));
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(content.error().message, file + ": binary file (NUL byte at offset 3)");
}

TEST_F(InputsTest, InvalidUtf8NamesTheOffset) {
  const std::string file = dir_.Write("latin1.txt", "caf\xe9 au lait");
  Result<DocumentContent> content = ReadDocument(FileDocument(file));
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().message, file + ": not UTF-8 (invalid byte at offset 3)");
}

TEST_F(InputsTest, MultiByteCharacterCutAtTheEndIsNotUtf8) {
  // "€" is E2 82 AC; the file stops after its second byte.
  const std::string file = dir_.Write("cut.txt", "price: \xe2\x82");
  Result<DocumentContent> content = ReadDocument(FileDocument(file));
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().message, file + ": not UTF-8 (invalid byte at offset 7)");
  EXPECT_TRUE(ReadDocument(FileDocument(dir_.Write("whole.txt", "price: \xe2\x82\xac"))));
}

TEST_F(InputsTest, MissingFileOrDirectoryIsAnIoError) {
  Result<DocumentContent> missing = ReadDocument(FileDocument(Path("missing.txt")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
  EXPECT_EQ(missing.error().message,
            "cannot read " + Path("missing.txt") + ": No such file or directory");

  std::filesystem::create_directories(dir_.path() / "dir");
  Result<DocumentContent> directory = ReadDocument(FileDocument(Path("dir")));
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kIo);
  EXPECT_THAT(directory.error().message, HasSubstr("is a directory"));
}

TEST_F(InputsTest, FileWithoutReadPermissionIsAnIoError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files without read permission";
  const std::string secret = dir_.Write("secret.txt", "s");
  std::filesystem::permissions(secret, std::filesystem::perms::none);
  Result<DocumentContent> denied = ReadDocument(FileDocument(secret));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kIo);
  EXPECT_EQ(denied.error().message, "cannot read " + secret + ": Permission denied");
}

TEST_F(InputsTest, DocumentBlockFormatsAreReadAsTheyAre) {
  constexpr char kPdf[] = "%PDF-1.7\n\0\xff\xfe binary";
  const std::string pdf(kPdf, sizeof(kPdf) - 1);
  const std::string file = dir_.Write("scan.pdf", pdf);
  Result<DocumentContent> content = ReadDocument(FileDocument(file), /*as_text=*/false);
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(content->bytes, pdf);
  EXPECT_EQ(content->format, DocumentFormat::kPdf);
  EXPECT_FALSE(ReadDocument(FileDocument(file)));  // not as text
}

TEST_F(InputsTest, InlineTextIsCheckedLikeAFile) {
  Document doc;
  doc.id = "note";
  doc.inline_text = "inline";
  Result<DocumentContent> content = ReadDocument(doc);
  ASSERT_TRUE(content);
  EXPECT_EQ(content->bytes, "inline");
  EXPECT_EQ(content->format, DocumentFormat::kText);
  doc.inline_text = "";
  ASSERT_FALSE(ReadDocument(doc));
  EXPECT_EQ(ReadDocument(doc).error().message, "note: empty text");
}

// The demo set in examples/ (examples/README.md): every contract is collected and reads as text.
TEST(ExampleInputsTest, ContractsAreThirtyTextDocuments) {
  const std::string dir = std::string(QUOTAFLOW_SOURCE_DIR) + "/examples/contracts";
  Result<CollectedInputs> inputs = CollectInputs({dir});
  ASSERT_TRUE(inputs);
  EXPECT_TRUE(inputs->problems.empty());
  ASSERT_EQ(inputs->documents.size(), 30u);
  for (const Document& doc : inputs->documents) {
    Result<DocumentContent> content = ReadDocument(doc);
    ASSERT_TRUE(content) << content.error().message;
    EXPECT_THAT(content->format, testing::AnyOf(DocumentFormat::kText, DocumentFormat::kMarkdown));
  }
}

TEST(FormatTest, ExtensionNamesTheFormat) {
  EXPECT_EQ(FormatOf("a/b.txt"), DocumentFormat::kText);
  EXPECT_EQ(FormatOf("README"), DocumentFormat::kText);
  EXPECT_EQ(FormatOf(".bashrc"), DocumentFormat::kText);
  EXPECT_EQ(FormatOf("x.weird"), DocumentFormat::kText);
  EXPECT_EQ(FormatOf("dir.pdf/notes"), DocumentFormat::kText);
  EXPECT_EQ(FormatOf("a.md"), DocumentFormat::kMarkdown);
  EXPECT_EQ(FormatOf("a.markdown"), DocumentFormat::kMarkdown);
  EXPECT_EQ(FormatOf("a.HTM"), DocumentFormat::kHtml);
  EXPECT_EQ(FormatOf("a.Pdf"), DocumentFormat::kPdf);
  EXPECT_EQ(FormatOf("a.docx"), DocumentFormat::kDocx);
  EXPECT_EQ(FormatOf("a.doc"), DocumentFormat::kDoc);
  EXPECT_EQ(FormatOf("a.csv"), DocumentFormat::kCsv);
  EXPECT_EQ(FormatOf("a.xls"), DocumentFormat::kXls);
  EXPECT_EQ(FormatOf("a.xlsx"), DocumentFormat::kXlsx);
}

TEST(FormatTest, ConverseNames) {
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kText), "txt");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kMarkdown), "md");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kHtml), "html");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kPdf), "pdf");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kDocx), "docx");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kCsv), "csv");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kDoc), "doc");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kXls), "xls");
  EXPECT_EQ(ConverseFormatName(DocumentFormat::kXlsx), "xlsx");
}

TEST(Utf8Test, StrictValidation) {
  EXPECT_EQ(FindInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"), std::nullopt);  // 😀 U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("ab\xc0\xafz"), 2u);                                  // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("a\xed\xa0\x80"), 1u);                                // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);                             // > U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("x\x80"), 1u);            // stray continuation
  EXPECT_EQ(FindInvalidUtf8("\xc3(x"), 0u);           // bad continuation
  EXPECT_EQ(FindInvalidUtf8("ok \xf0\x9f\x98"), 3u);  // cut at the end
}

TEST(GlobTest, StarDoesNotCrossSlashes) {
  EXPECT_TRUE(GlobMatch("*.txt", "a.txt"));
  EXPECT_TRUE(GlobMatch("*.txt", ".txt"));
  EXPECT_FALSE(GlobMatch("*.txt", "d/a.txt"));
  EXPECT_TRUE(GlobMatch("d/*/a.txt", "d/x/a.txt"));
  EXPECT_FALSE(GlobMatch("d/*/a.txt", "d/x/y/a.txt"));
  EXPECT_TRUE(GlobMatch("*urgent*", "urgent-nda.txt"));
  EXPECT_FALSE(GlobMatch("*urgent*", "nda.txt"));
}

TEST(GlobTest, DoubleStarCrossesSlashes) {
  EXPECT_TRUE(GlobMatch("archive/**", "archive/a.txt"));
  EXPECT_TRUE(GlobMatch("archive/**", "archive/2019/q1/a.txt"));
  EXPECT_FALSE(GlobMatch("archive/**", "archived/a.txt"));
  EXPECT_TRUE(GlobMatch("**/*.md", "a.md"));
  EXPECT_TRUE(GlobMatch("**/*.md", "x/y/a.md"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/b"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(GlobMatch("a/**/b", "a/xb"));
  EXPECT_TRUE(GlobMatch("a**z", "a/b/z"));
}

TEST(GlobTest, QuestionMarkAndSetsMatchOneCharacter) {
  EXPECT_TRUE(GlobMatch("file?.txt", "file1.txt"));
  EXPECT_FALSE(GlobMatch("file?.txt", "file12.txt"));
  EXPECT_FALSE(GlobMatch("a?b", "a/b"));
  EXPECT_TRUE(GlobMatch("caf?", "café"));  // one character, two bytes
  EXPECT_TRUE(GlobMatch("[abc].txt", "b.txt"));
  EXPECT_FALSE(GlobMatch("[abc].txt", "d.txt"));
  EXPECT_TRUE(GlobMatch("v[0-9]", "v7"));
  EXPECT_TRUE(GlobMatch("v[!0-9]", "vx"));
  EXPECT_FALSE(GlobMatch("v[^0-9]", "v7"));
  EXPECT_TRUE(GlobMatch("[]]", "]"));
  EXPECT_TRUE(GlobMatch("a[b", "a[b"));  // unclosed: a literal '['
}

TEST(GlobTest, PathologicalPatternIsFast) {
  const std::string text(10'000, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(GlobMatch("**a**a**a**a", text));
}

}  // namespace
}  // namespace quotaflow::batch
