#pragma once
// The prompt a batch sends for each document: a template with placeholders.
//
//   Summarise the contract {filename} for {metadata.client}.
//   Answer as {{"parties": [...]}}.
//
//   {document}
//
// Thread safety: a parsed PromptTemplate is immutable; its const methods are safe from many
// threads.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow::batch {

struct TemplateFields {
  std::string document;
  std::string filename;
  const std::map<std::string, std::string>* metadata = nullptr;  // not owned; null = none
};

class PromptTemplate {
 public:
  // Placeholders {document}, {filename} and {metadata.KEY}; "{{" and "}}" are literal braces, so
  // a JSON example in the instructions is written {{"parties": [...]}}. kInvalidArgument naming
  // the line and column for an unknown placeholder, an unclosed '{' (a placeholder ends on its
  // line), a lone '}', and when there is no {document} at all.
  static Result<PromptTemplate> Parse(std::string_view text);
  // Reads and parses a template file (UTF-8 text, as ReadDocument checks it); errors name the file
  // ("prompt.txt:3:14: unknown placeholder {documnet} ...").
  static Result<PromptTemplate> Load(const std::filesystem::path& path);

  // The prompt for one document. kInvalidArgument "metadata key KEY missing for this document"
  // (with the placeholder's line and column) when the document's metadata lacks a key the
  // template uses.
  Result<std::string> Render(const TemplateFields& f) const;

  // For --cache-prompt: the template's text before the first {document} (the instructions every
  // document shares, sent before a cachePoint) and the rest, both rendered; shared_prefix + rest
  // == Render(f). kInvalidArgument when !cacheable(), saying why.
  struct Split {
    std::string shared_prefix;
    std::string rest;
  };
  Result<Split> RenderSplit(const TemplateFields& f) const;
  // Whether the text before the first {document} is the same for every document (it uses no
  // {filename} or {metadata.KEY}) and is not blank: only then is there a prefix to cache.
  bool cacheable() const;

  // The rendered length in bytes without the document, {filename} and metadata values (their
  // lengths vary per document; add them for an exact figure): for token estimates.
  size_t FixedSize() const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kDocument, kFilename, kMetadata };
    Kind kind = Kind::kLiteral;
    std::string text;  // kLiteral: the text (braces unescaped); kMetadata: the key
    int line = 0;      // where a placeholder starts, for errors
    int column = 0;
  };
  static Result<PromptTemplate> Parse(std::string_view text, const std::string& source);
  Result<std::string> RenderRange(size_t begin, size_t end, const TemplateFields& f) const;

  std::vector<Segment> segments_;
  size_t first_document_ = 0;  // index of the first kDocument segment
  std::string source_;         // the file name for errors, or "" for text parsed directly
};

}  // namespace quotaflow::batch
