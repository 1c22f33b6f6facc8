#pragma once
// The documents of a batch: what `quotaflow batch INPUT...` names (files, directories, globs,
// JSONL manifests) collected into a list, and each document's bytes read and checked.
//
// A problem with one document (a missing file, a glob that matches nothing, a bad manifest line,
// a binary file) fails that document only, never the batch: collection reports it as an
// InputProblem and goes on; ReadDocument returns it as an Error for the pipeline to record.
//
// Thread safety: free functions over their arguments; safe from many threads.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow::batch {

struct Document {
  // Stable across runs, so a resumed run recognises what it has done: the manifest's id, else
  // the path exactly as collected ("dir/sub/file.txt"; relative paths stay relative).
  std::string id;
  std::string path;  // empty for inline manifest text
  std::optional<std::string> inline_text;
  // A manifest line's priority, which overrides every priority rule: 0 low, 1 normal, 2 high
  // (up to 9).
  std::optional<int> priority;
  std::map<std::string, std::string> metadata;  // manifest metadata, values stringified
  int64_t size_bytes = 0;                       // the file's size, or the inline text's
};

// A document that cannot be processed, found while collecting. `id` is the document's id when it
// has one, else the argument or "manifest.jsonl:LINE"; `reason` is for a user ("no such file or
// directory"), without the id.
struct InputProblem {
  std::string id;
  std::string path;
  std::string reason;
};

struct CollectedInputs {
  std::vector<Document> documents;
  std::vector<InputProblem> problems;
};

// Collects the documents the arguments name, in argument order. Each argument is:
//  - a path that exists: a file ending ".jsonl" is a manifest (below); another file is a
//    document; a directory contributes every regular file under it (recursively, sorted by path;
//    hidden files and directories, named ".*", are skipped; symlinked directories are not
//    followed; a ".jsonl" file inside a directory is a document, not a manifest);
//  - else, when it contains '*', '?' or '[', a glob (see GlobMatch): its matches sorted by path,
//    a matched directory walked as above and a matched ".jsonl" file read as a manifest;
//  - else a problem ("no such file or directory").
// A glob that matches nothing, or a directory without files, is a problem with the argument as id.
//
// A manifest has one JSON object per line (blank lines are skipped), documents in line order:
//   {"id": "a-17", "path": "docs/a.txt", "priority": "high", "metadata": {"client": "Acme"}}
//   {"id": "note-3", "text": "inline document text", "priority": 0}
// "path" (relative to the manifest's directory) or "text" is required, not both; "id" defaults
// to the path as collected and is required with "text"; "priority" is high, normal, low or an
// integer 0..9; "metadata" is an object whose values are stringified (a string as is, any other
// value as JSON). A line that is not such an object is a problem naming "manifest.jsonl:LINE".
//
// A document whose id was already collected is a problem ("duplicate id"); the first one stays.
// Errors: kInvalidArgument when `args` is empty; every other failure is an InputProblem.
Result<CollectedInputs> CollectInputs(const std::vector<std::string>& args);

// Whether `text` matches the glob `pattern`: '*' matches any characters but '/', '**' any
// characters including '/' ("a/**/b" also matches "a/b"), '?' one character but '/', "[abc]",
// "[a-z]" and "[!a-z]" (or "[^a-z]") one character of a set. Characters are UTF-8 code points;
// matching is case-sensitive. An unclosed '[' is a literal.
bool GlobMatch(std::string_view pattern, std::string_view text);

// Whether an argument is a glob: it contains '*', '?' or '['.
bool HasGlobCharacters(std::string_view text);

enum class DocumentFormat { kText, kMarkdown, kHtml, kPdf, kDocx, kCsv, kDoc, kXls, kXlsx };

// The Converse DocumentBlock format name: "txt", "md", "html", "pdf", "docx", "csv", "doc",
// "xls", "xlsx".
std::string_view ConverseFormatName(DocumentFormat f);

// The format its extension names (case-insensitive; ".markdown" and ".htm" too); anything else,
// including no extension, is text.
DocumentFormat FormatOf(std::string_view path);

struct DocumentContent {
  std::string bytes;
  DocumentFormat format = DocumentFormat::kText;
};

// Reads a document: the file at doc.path, or doc.inline_text (format text).
// As text (`as_text`, for inlining into a prompt) the bytes must be valid UTF-8 (RFC 3629, strict)
// without NUL bytes; HTML and Markdown are text too. Otherwise (a PDF or DOCX sent as a Converse
// document block) the bytes are returned as they are. Either way they must not be empty.
// Errors, each message starting with the path (or the id of an inline document):
//   kIo              the file cannot be read ("cannot read a.txt: Permission denied")
//   kInvalidArgument "empty file", "binary file (NUL byte at offset N)",
//                    "not UTF-8 (invalid byte at offset N)" (N: the first byte of the bad sequence)
Result<DocumentContent> ReadDocument(const Document& doc, bool as_text = true);

// The offset of the first byte of the first sequence in `text` that is not strict UTF-8 (RFC
// 3629: no overlong forms, no surrogates, nothing above U+10FFFF, no sequence cut short by the
// end), or nullopt when all of it is valid.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

}  // namespace quotaflow::batch
