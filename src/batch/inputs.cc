#include "batch/inputs.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "batch/priority_rules.h"

namespace quotaflow::batch {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kManifestExtension = ".jsonl";

// ---- UTF-8 and globs --------------------------------------------------------------------------

// The length of the strict UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) that starts at text[i], with its code point in *cp; 0 when none does.
size_t SequenceAt(std::string_view text, size_t i, char32_t* cp) {
  const auto c = static_cast<uint8_t>(text[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  // Lead byte: how many continuation bytes follow, the smallest code point that needs them
  // (anything below is an overlong form), and the lead byte's payload bits.
  size_t extra = 0;
  char32_t min_cp = 0;
  char32_t value = 0;
  if ((c & 0xe0) == 0xc0) {
    extra = 1;
    min_cp = 0x80;
    value = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    extra = 2;
    min_cp = 0x800;
    value = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    extra = 3;
    min_cp = 0x10000;
    value = c & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i <= extra) return 0;
  for (size_t k = 1; k <= extra; ++k) {
    const auto cc = static_cast<uint8_t>(text[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    value = (value << 6) | (cc & 0x3f);
  }
  if (value < min_cp || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return 0;
  *cp = value;
  return extra + 1;
}

// The code points of `text`; a byte that starts no valid sequence becomes 0x110000 + byte, a value
// no code point has, so that it matches only the same stray byte.
std::u32string DecodeLossless(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    const size_t length = SequenceAt(text, i, &cp);
    if (length == 0) {
      out.push_back(0x110000 + static_cast<uint8_t>(text[i]));
      ++i;
    } else {
      out.push_back(cp);
      i += length;
    }
  }
  return out;
}

struct GlobToken {
  enum class Kind {
    kLiteral,        // one given character
    kAnyChar,        // '?': one character but '/'
    kSet,            // "[...]": one character but '/' of a set
    kStar,           // '*': any run of characters but '/'
    kGlobstar,       // "**": any run of characters
    kGlobstarSlash,  // "**/": nothing, or any run of characters ending with '/' (with the
                     // kGlobstarInside token that always follows it)
    kGlobstarInside,
  };
  Kind kind = Kind::kLiteral;
  char32_t literal = 0;
  bool negated = false;
  std::vector<std::pair<char32_t, char32_t>> ranges;  // kSet: inclusive

  bool InSet(char32_t c) const {
    const bool in = std::any_of(ranges.begin(), ranges.end(),
                                [c](const auto& r) { return r.first <= c && c <= r.second; });
    return in != negated;
  }
};

std::vector<GlobToken> TokenizeGlob(std::u32string_view pattern) {
  using Kind = GlobToken::Kind;
  std::vector<GlobToken> tokens;
  size_t i = 0;
  while (i < pattern.size()) {
    const char32_t c = pattern[i];
    GlobToken token;
    if (c == U'*') {
      size_t end = i;
      while (end < pattern.size() && pattern[end] == U'*') ++end;
      if (end - i == 1) {
        token.kind = Kind::kStar;
      } else if (end < pattern.size() && pattern[end] == U'/') {
        token.kind = Kind::kGlobstarSlash;
        tokens.push_back(token);
        token.kind = Kind::kGlobstarInside;
        ++end;
      } else {
        token.kind = Kind::kGlobstar;
      }
      i = end;
    } else if (c == U'?') {
      token.kind = Kind::kAnyChar;
      ++i;
    } else if (c == U'[') {
      size_t j = i + 1;
      token.kind = Kind::kSet;
      if (j < pattern.size() && (pattern[j] == U'!' || pattern[j] == U'^')) {
        token.negated = true;
        ++j;
      }
      bool closed = false;
      for (bool first = true; j < pattern.size(); first = false) {
        if (pattern[j] == U']' && !first) {
          closed = true;
          break;
        }
        if (j + 2 < pattern.size() && pattern[j + 1] == U'-' && pattern[j + 2] != U']') {
          token.ranges.emplace_back(pattern[j], pattern[j + 2]);
          j += 3;
        } else {
          token.ranges.emplace_back(pattern[j], pattern[j]);
          ++j;
        }
      }
      if (closed) {
        i = j + 1;
      } else {  // an unclosed '[' is a literal
        token = GlobToken();
        token.literal = c;
        ++i;
      }
    } else {
      token.literal = c;
      ++i;
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// ---- files ------------------------------------------------------------------------------------

std::string ErrnoMessage() { return std::generic_category().message(errno); }

// Reads a whole file; errors name it.
Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return tl::make_unexpected(Error::Io("cannot read " + path + ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::make_unexpected(Error::Io("cannot read " + path + ": " + ErrnoMessage()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return tl::make_unexpected(Error::Io("cannot read " + path + ": " + ErrnoMessage()));
  }
  return text.str();
}

bool IsHidden(const fs::path& name) { return name.filename().string().starts_with('.'); }

// "a.txt" in a manifest at "jobs/m.jsonl" is "jobs/a.txt"; an absolute path stays as it is.
std::string ResolveAgainst(const std::string& manifest, const std::string& path) {
  const fs::path p(path);
  if (p.is_absolute()) return path;
  return (fs::path(manifest).parent_path() / p).string();
}

std::string JsonKind(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

// Walks the arguments; see CollectInputs. One object per call.
class Collector {
 public:
  void AddArgument(const std::string& arg) {
    if (arg.empty()) {
      AddProblem(arg, arg, "empty argument (expected a file, a directory or a glob)");
      return;
    }
    std::error_code ec;
    const fs::file_status status = fs::status(arg, ec);
    if (fs::exists(status)) {
      if (fs::is_directory(status)) {
        AddDirectoryArgument(arg);
      } else {
        AddFile(arg, /*manifest_allowed=*/true);
      }
      return;
    }
    if (HasGlobCharacters(arg)) {
      AddGlob(arg);
      return;
    }
    // A parent without search permission is worth saying; anything else is "not there".
    AddProblem(arg, arg,
               ec == std::errc::permission_denied ? ec.message() : "no such file or directory");
  }

  CollectedInputs Take() && { return std::move(out_); }

 private:
  void AddProblem(std::string id, std::string path, std::string reason) {
    out_.problems.push_back({std::move(id), std::move(path), std::move(reason)});
  }

  void AddDocument(Document doc) {
    if (!ids_.insert(doc.id).second) {
      AddProblem(doc.id, doc.path, "duplicate id (a document with this id came earlier)");
      return;
    }
    out_.documents.push_back(std::move(doc));
  }

  // A regular file named by an argument, a glob or a directory walk.
  void AddFile(const std::string& path, bool manifest_allowed) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec) {
      AddProblem(path, path, ec.message());
      return;
    }
    if (!fs::is_regular_file(status)) {
      AddProblem(path, path, "not a regular file");
      return;
    }
    if (manifest_allowed && path.ends_with(kManifestExtension)) {
      AddManifest(path);
      return;
    }
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) {
      AddProblem(path, path, ec.message());
      return;
    }
    Document doc;
    doc.id = path;
    doc.path = path;
    doc.size_bytes = static_cast<int64_t>(size);
    AddDocument(std::move(doc));
  }

  // Appends the paths of the regular files under `dir` (hidden entries and symlinked directories
  // skipped) to `files`; a directory that cannot be listed is a problem.
  void Walk(const fs::path& dir, std::vector<std::string>* files) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      AddProblem(dir.string(), dir.string(), "cannot list directory: " + ec.message());
      return;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path& path = it->path();
      if (IsHidden(path)) continue;
      std::error_code entry_ec;
      if (it->is_directory(entry_ec)) {
        // A symlinked directory could loop back on an ancestor.
        if (!it->is_symlink(entry_ec)) Walk(path, files);
      } else if (it->is_regular_file(entry_ec)) {
        files->push_back(path.string());
      }
    }
    if (ec) AddProblem(dir.string(), dir.string(), "cannot list directory: " + ec.message());
  }

  void AddDirectoryArgument(const std::string& arg) {
    std::vector<std::string> files;
    const size_t problems_before = out_.problems.size();
    Walk(arg, &files);
    if (files.empty() && out_.problems.size() == problems_before) {
      AddProblem(arg, arg, "no files in this directory (hidden files are skipped)");
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) AddFile(file, /*manifest_allowed=*/false);
  }

  // Matches of components[index..] under `prefix` ("" = the current directory, left out of the
  // paths): a path maps to whether it was matched itself (then a ".jsonl" file is a manifest), as
  // opposed to found in a matched directory.
  void ExpandGlob(const std::string& prefix, const std::vector<std::string>& components,
                  size_t index, std::map<std::string, bool>* matches) {
    const auto join = [&prefix](const std::string& name) {
      return prefix.empty() ? name : (fs::path(prefix) / name).string();
    };
    std::error_code ec;
    if (index == components.size()) {
      const fs::file_status status = fs::status(prefix, ec);
      if (fs::is_regular_file(status)) {
        matches->emplace(prefix, true);
      } else if (fs::is_directory(status)) {
        std::vector<std::string> files;
        Walk(prefix, &files);
        for (std::string& file : files) matches->emplace(std::move(file), false);
      }
      return;
    }
    const std::string& component = components[index];
    const fs::path dir = prefix.empty() ? fs::path(".") : fs::path(prefix);
    if (component == "**" && index + 1 == components.size()) {  // every file below
      std::vector<std::string> files;
      Walk(dir, &files);
      for (const std::string& file : files) {
        // Walk of "." yields "./a": keep the paths relative to the pattern's base.
        const std::string path =
            prefix.empty() ? fs::path(file).lexically_relative(".").string() : file;
        matches->emplace(path, true);
      }
      return;
    }
    if (!HasGlobCharacters(component)) {
      if (fs::exists(join(component), ec)) {
        ExpandGlob(join(component), components, index + 1, matches);
      }
      return;
    }
    const bool globstar = component == "**";
    if (globstar) ExpandGlob(prefix, components, index + 1, matches);  // zero directories
    fs::directory_iterator it(dir, ec);
    if (ec) return;  // an unreadable directory on the way is not a match
    // Shells let a wildcard match a hidden name only when the pattern starts with '.'.
    const bool hidden_allowed = component.starts_with('.');
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.starts_with('.') && !hidden_allowed) continue;
      std::error_code entry_ec;
      if (globstar) {
        if (it->is_directory(entry_ec) && !it->is_symlink(entry_ec)) names.push_back(name);
      } else if (GlobMatch(component, name)) {
        names.push_back(name);
      }
    }
    for (const std::string& name : names) {
      // "**" matches one or more directories here; its zero-directory case is above.
      ExpandGlob(join(name), components, globstar ? index : index + 1, matches);
    }
  }

  void AddGlob(const std::string& pattern) {
    std::vector<std::string> components;
    std::string prefix;
    if (pattern.starts_with('/')) prefix = "/";
    // The leading components without glob characters are the directory the search starts in.
    bool literal = true;
    size_t start = 0;
    while (start <= pattern.size()) {
      size_t end = pattern.find('/', start);
      if (end == std::string::npos) end = pattern.size();
      std::string component = pattern.substr(start, end - start);
      start = end + 1;
      if (component.empty()) continue;
      if (literal && !HasGlobCharacters(component)) {
        prefix = prefix.empty() ? component : (fs::path(prefix) / component).string();
      } else {
        literal = false;
        components.push_back(std::move(component));
      }
    }
    std::map<std::string, bool> matches;
    ExpandGlob(prefix, components, 0, &matches);
    if (matches.empty()) {
      AddProblem(pattern, pattern, "no file matches this pattern");
      return;
    }
    for (const auto& [path, matched_itself] : matches) AddFile(path, matched_itself);
  }

  void AddManifest(const std::string& manifest) {
    Result<std::string> text = ReadFile(manifest);
    if (!text) {
      AddProblem(manifest, manifest, text.error().message);
      return;
    }
    const size_t documents_before = out_.documents.size();
    const size_t problems_before = out_.problems.size();
    int line_number = 0;
    size_t start = 0;
    while (start < text->size()) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      std::string_view line(text->data() + start, end - start);
      start = end + 1;
      ++line_number;
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      AddManifestLine(manifest, line_number, line);
    }
    if (out_.documents.size() == documents_before && out_.problems.size() == problems_before) {
      AddProblem(manifest, manifest, "the manifest lists no documents");
    }
  }

  void AddManifestLine(const std::string& manifest, int line_number, std::string_view line) {
    const std::string where = manifest + ":" + std::to_string(line_number);
    Document doc;
    const auto fail = [&](const std::string& why) {
      AddProblem(doc.id.empty() ? where : doc.id, manifest, where + ": " + why);
    };
    boost::system::error_code ec;
    const boost::json::value value = boost::json::parse(line, ec);
    if (ec) return fail("invalid JSON: " + ec.message());
    if (!value.is_object()) return fail("expected a JSON object, got " + JsonKind(value));
    const boost::json::object& object = value.as_object();
    // The id first, so that a problem on a later key names the document.
    if (const boost::json::value* id = object.if_contains("id")) {
      if (id->is_string()) {
        doc.id = std::string(id->as_string());
      } else if (id->is_int64() || id->is_uint64()) {
        doc.id = boost::json::serialize(*id);
      } else {
        return fail("\"id\" must be a string, got " + JsonKind(*id));
      }
      if (doc.id.empty()) return fail("\"id\" is empty");
    }
    const boost::json::value* path = nullptr;
    const boost::json::value* inline_text = nullptr;
    for (const auto& [key, field] : object) {
      if (key == "id") continue;
      if (key == "path") {
        path = &field;
      } else if (key == "text") {
        inline_text = &field;
      } else if (key == "priority") {
        if (field.is_string()) {
          Result<int> priority = ParsePriorityName(field.as_string());
          if (!priority) return fail("\"priority\": " + priority.error().message);
          doc.priority = *priority;
        } else if (field.is_int64() && field.as_int64() >= 0 && field.as_int64() <= 9) {
          doc.priority = static_cast<int>(field.as_int64());
        } else {
          return fail("\"priority\" must be high, normal, low or an integer 0 to 9, got " +
                      boost::json::serialize(field));
        }
      } else if (key == "metadata") {
        if (!field.is_object()) {
          return fail("\"metadata\" must be an object, got " + JsonKind(field));
        }
        for (const auto& [name, entry] : field.as_object()) {
          doc.metadata[std::string(name)] =
              entry.is_string() ? std::string(entry.as_string()) : boost::json::serialize(entry);
        }
      } else {
        return fail("unknown key \"" + std::string(key) +
                    "\" (expected id, path, text, priority or metadata)");
      }
    }
    if ((path == nullptr) == (inline_text == nullptr)) {
      return fail(path == nullptr ? "needs \"path\" (a file) or \"text\" (the document itself)"
                                  : "has both \"path\" and \"text\"; give one");
    }
    if (inline_text != nullptr) {
      if (!inline_text->is_string()) {
        return fail("\"text\" must be a string, got " + JsonKind(*inline_text));
      }
      if (doc.id.empty()) return fail("a document given as \"text\" needs an \"id\"");
      doc.inline_text = std::string(inline_text->as_string());
      doc.size_bytes = static_cast<int64_t>(doc.inline_text->size());
      AddDocument(std::move(doc));
      return;
    }
    if (!path->is_string() || path->as_string().empty()) {
      return fail("\"path\" must be a non-empty string, got " + boost::json::serialize(*path));
    }
    doc.path = ResolveAgainst(manifest, std::string(path->as_string()));
    if (doc.id.empty()) doc.id = doc.path;
    std::error_code fs_ec;
    const fs::file_status status = fs::status(doc.path, fs_ec);
    if (!fs::exists(status)) {
      AddProblem(doc.id, doc.path, "no such file or directory (listed at " + where + ")");
      return;
    }
    if (!fs::is_regular_file(status)) {
      AddProblem(doc.id, doc.path, "not a regular file (listed at " + where + ")");
      return;
    }
    doc.size_bytes = static_cast<int64_t>(fs::file_size(doc.path, fs_ec));
    if (fs_ec) {
      AddProblem(doc.id, doc.path, fs_ec.message() + " (listed at " + where + ")");
      return;
    }
    AddDocument(std::move(doc));
  }

  CollectedInputs out_;
  std::unordered_set<std::string> ids_;
};

}  // namespace

Result<CollectedInputs> CollectInputs(const std::vector<std::string>& args) {
  if (args.empty()) {
    return tl::make_unexpected(
        Error::InvalidArgument("no inputs: name files, directories, globs or .jsonl manifests"));
  }
  Collector collector;
  for (const std::string& arg : args) collector.AddArgument(arg);
  return std::move(collector).Take();
}

bool HasGlobCharacters(std::string_view text) {
  return text.find_first_of("*?[") != std::string_view::npos;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  using Kind = GlobToken::Kind;
  const std::vector<GlobToken> tokens = TokenizeGlob(DecodeLossless(pattern));
  const std::u32string chars = DecodeLossless(text);
  // A simulation of the pattern's automaton: active[i] = the first i tokens can match the text so
  // far. Linear in pattern × text, where backtracking would be exponential on "*a*a*a*b".
  const size_t n = tokens.size();
  std::vector<char> active(n + 1, 0);
  std::vector<char> next(n + 1, 0);
  // Adds the states reachable without consuming a character: past a '*' or "**" matching
  // nothing, and past a whole "**/" (skipping its inside state).
  const auto close = [&tokens, n](std::vector<char>& states) {
    for (size_t i = 0; i < n; ++i) {
      if (!states[i]) continue;
      const Kind kind = tokens[i].kind;
      if (kind == Kind::kStar || kind == Kind::kGlobstar) states[i + 1] = 1;
      if (kind == Kind::kGlobstarSlash) states[i + 2] = 1;
    }
  };
  active[0] = 1;
  close(active);
  for (const char32_t c : chars) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      if (!active[i]) continue;
      const GlobToken& token = tokens[i];
      switch (token.kind) {
        case Kind::kLiteral:
          if (c == token.literal) next[i + 1] = 1;
          break;
        case Kind::kAnyChar:
          if (c != U'/') next[i + 1] = 1;
          break;
        case Kind::kSet:
          if (c != U'/' && token.InSet(c)) next[i + 1] = 1;
          break;
        case Kind::kStar:
          if (c != U'/') next[i] = 1;
          break;
        case Kind::kGlobstar:
          next[i] = 1;
          break;
        case Kind::kGlobstarSlash:  // the run's first character: now inside it
          next[i + 1] = 1;
          if (c == U'/') next[i + 2] = 1;
          break;
        case Kind::kGlobstarInside:
          next[i] = 1;
          if (c == U'/') next[i + 1] = 1;
          break;
      }
    }
    close(next);
    for (const char state : next) any = any || state;
    if (!any) return false;
    active.swap(next);
  }
  return active[n] != 0;
}

std::string_view ConverseFormatName(DocumentFormat f) {
  switch (f) {
    case DocumentFormat::kText:
      return "txt";
    case DocumentFormat::kMarkdown:
      return "md";
    case DocumentFormat::kHtml:
      return "html";
    case DocumentFormat::kPdf:
      return "pdf";
    case DocumentFormat::kDocx:
      return "docx";
    case DocumentFormat::kCsv:
      return "csv";
    case DocumentFormat::kDoc:
      return "doc";
    case DocumentFormat::kXls:
      return "xls";
    case DocumentFormat::kXlsx:
      return "xlsx";
  }
  return "txt";
}

DocumentFormat FormatOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return DocumentFormat::kText;
  std::string extension(name.substr(dot + 1));
  std::transform(extension.begin(), extension.end(), extension.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  static constexpr std::pair<std::string_view, DocumentFormat> kExtensions[] = {
      {"md", DocumentFormat::kMarkdown}, {"markdown", DocumentFormat::kMarkdown},
      {"html", DocumentFormat::kHtml},   {"htm", DocumentFormat::kHtml},
      {"pdf", DocumentFormat::kPdf},     {"docx", DocumentFormat::kDocx},
      {"csv", DocumentFormat::kCsv},     {"doc", DocumentFormat::kDoc},
      {"xls", DocumentFormat::kXls},     {"xlsx", DocumentFormat::kXlsx},
  };
  for (const auto& [name_of, format] : kExtensions) {
    if (extension == name_of) return format;
  }
  return DocumentFormat::kText;
}

Result<DocumentContent> ReadDocument(const Document& doc, bool as_text) {
  DocumentContent content;
  std::string name;
  if (doc.inline_text) {
    name = doc.id;
    content.bytes = *doc.inline_text;
  } else {
    name = doc.path;
    content.format = FormatOf(doc.path);
    Result<std::string> bytes = ReadFile(doc.path);
    if (!bytes) return tl::make_unexpected(std::move(bytes).error());
    content.bytes = std::move(*bytes);
  }
  const auto invalid = [&name](const std::string& why) {
    return tl::make_unexpected(Error::InvalidArgument(name + ": " + why));
  };
  if (content.bytes.empty()) return invalid(doc.inline_text ? "empty text" : "empty file");
  if (!as_text) return content;
  const size_t nul = content.bytes.find('\0');
  if (nul != std::string::npos) {
    return invalid("binary file (NUL byte at offset " + std::to_string(nul) + ")");
  }
  if (const std::optional<size_t> bad = FindInvalidUtf8(content.bytes)) {
    return invalid("not UTF-8 (invalid byte at offset " + std::to_string(*bad) + ")");
  }
  return content;
}

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    const size_t length = SequenceAt(text, i, &cp);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

}  // namespace quotaflow::batch
