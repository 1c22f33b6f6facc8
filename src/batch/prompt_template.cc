#include "batch/prompt_template.h"

#include <algorithm>
#include <utility>

#include "batch/inputs.h"

namespace quotaflow::batch {
namespace {

constexpr std::string_view kPlaceholders =
    "{document}, {filename} or {metadata.KEY}; write {{ and }} for literal braces";

// "prompt.txt:3:14" for a file, "line 3, column 14" for text parsed directly.
std::string Location(const std::string& source, int line, int column) {
  if (source.empty()) {
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
  }
  return source + ":" + std::to_string(line) + ":" + std::to_string(column);
}

// A placeholder's name as an error message shows it: a JSON fragment mistaken for one can be long.
std::string Excerpt(std::string_view name) {
  constexpr size_t kMax = 40;
  if (name.size() <= kMax) return std::string(name);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xc0) == 0x80) --cut;
  return std::string(name.substr(0, cut)) + "...";
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<PromptTemplate> PromptTemplate::Parse(std::string_view text) { return Parse(text, ""); }

Result<PromptTemplate> PromptTemplate::Load(const std::filesystem::path& path) {
  Document doc;
  doc.id = path.string();
  doc.path = path.string();
  Result<DocumentContent> content = ReadDocument(doc);
  if (!content) {
    Error error = std::move(content).error();
    error.message = "prompt template " + error.message;
    return tl::make_unexpected(std::move(error));
  }
  return Parse(content->bytes, path.string());
}

Result<PromptTemplate> PromptTemplate::Parse(std::string_view text, const std::string& source) {
  PromptTemplate parsed;
  parsed.source_ = source;
  std::vector<Segment>& segments = parsed.segments_;
  const auto append_literal = [&segments](std::string_view literal) {
    if (segments.empty() || segments.back().kind != Segment::Kind::kLiteral) {
      segments.emplace_back();  // a literal
    }
    segments.back().text += literal;
  };
  const auto invalid = [&source](int line, int column, const std::string& why) {
    return tl::make_unexpected(Error::InvalidArgument(Location(source, line, column) + ": " + why +
                                                      " (placeholders are " +
                                                      std::string(kPlaceholders) + ")"));
  };
  int line = 1;
  int column = 1;
  bool has_document = false;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    size_t consumed = 1;
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      append_literal(std::string_view(&c, 1));
      consumed = 2;
    } else if (c == '}') {
      return invalid(line, column, "a lone '}'");
    } else if (c == '{') {
      const size_t close = text.find_first_of("}\n", i + 1);
      if (close == std::string_view::npos || text[close] != '}') {
        return invalid(line, column, "'{' is not closed on its line");
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      Segment segment;
      segment.line = line;
      segment.column = column;
      if (name == "document") {
        segment.kind = Segment::Kind::kDocument;
        if (!has_document) parsed.first_document_ = segments.size();
        has_document = true;
      } else if (name == "filename") {
        segment.kind = Segment::Kind::kFilename;
      } else if (name.starts_with("metadata.") && name.size() > 9) {
        segment.kind = Segment::Kind::kMetadata;
        segment.text = std::string(name.substr(9));
      } else {
        return invalid(line, column, "unknown placeholder {" + Excerpt(name) + "}");
      }
      segments.push_back(std::move(segment));
      consumed = close + 1 - i;
    } else {
      // Literal text up to the next brace or line end, in one piece.
      const size_t stop = std::min(text.find_first_of("{}\n", i + 1), text.size());
      append_literal(text.substr(i, stop - i));
      consumed = stop - i;
    }
    // Columns count characters: every byte but UTF-8 continuation bytes starts one.
    for (const char byte : text.substr(i, consumed)) {
      if (byte == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(byte) & 0xc0) != 0x80) {
        ++column;
      }
    }
    i += consumed;
  }
  if (!has_document) {
    const std::string where = source.empty() ? "prompt template" : source;
    return tl::make_unexpected(Error::InvalidArgument(
        where + ": no {document} placeholder: the template must say where the document goes"));
  }
  return parsed;
}

Result<std::string> PromptTemplate::RenderRange(size_t begin, size_t end,
                                                const TemplateFields& f) const {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Segment& segment = segments_[i];
    switch (segment.kind) {
      case Segment::Kind::kLiteral:
        out += segment.text;
        break;
      case Segment::Kind::kDocument:
        out += f.document;
        break;
      case Segment::Kind::kFilename:
        out += f.filename;
        break;
      case Segment::Kind::kMetadata: {
        const std::string* value = nullptr;
        if (f.metadata != nullptr) {
          const auto found = f.metadata->find(segment.text);
          if (found != f.metadata->end()) value = &found->second;
        }
        if (value == nullptr) {
          return tl::make_unexpected(Error::InvalidArgument(
              Location(source_, segment.line, segment.column) + ": {metadata." + segment.text +
              "}: metadata key " + segment.text + " missing for this document"));
        }
        out += *value;
        break;
      }
    }
  }
  return out;
}

Result<std::string> PromptTemplate::Render(const TemplateFields& f) const {
  return RenderRange(0, segments_.size(), f);
}

Result<PromptTemplate::Split> PromptTemplate::RenderSplit(const TemplateFields& f) const {
  for (size_t i = 0; i < first_document_; ++i) {
    const Segment& segment = segments_[i];
    if (segment.kind == Segment::Kind::kLiteral) continue;
    const std::string name =
        segment.kind == Segment::Kind::kFilename ? "{filename}" : "{metadata." + segment.text + "}";
    return tl::make_unexpected(Error::InvalidArgument(
        Location(source_, segment.line, segment.column) + ": " + name +
        " comes before {document}, so the instructions differ per document and cannot be cached; "
        "move it after {document}, or run without --cache-prompt"));
  }
  if (!cacheable()) {
    return tl::make_unexpected(Error::InvalidArgument(
        (source_.empty() ? std::string("prompt template") : source_) +
        ": no instructions before {document} to cache; put them first, or run without "
        "--cache-prompt"));
  }
  Split split;
  Result<std::string> prefix = RenderRange(0, first_document_, f);
  if (!prefix) return tl::make_unexpected(std::move(prefix).error());
  Result<std::string> rest = RenderRange(first_document_, segments_.size(), f);
  if (!rest) return tl::make_unexpected(std::move(rest).error());
  split.shared_prefix = std::move(*prefix);
  split.rest = std::move(*rest);
  return split;
}

bool PromptTemplate::cacheable() const {
  std::string prefix;
  for (size_t i = 0; i < first_document_; ++i) {
    if (segments_[i].kind != Segment::Kind::kLiteral) return false;
    prefix += segments_[i].text;
  }
  return !IsBlank(prefix);
}

size_t PromptTemplate::FixedSize() const {
  size_t size = 0;
  for (const Segment& segment : segments_) {
    if (segment.kind == Segment::Kind::kLiteral) size += segment.text.size();
  }
  return size;
}

}  // namespace quotaflow::batch
