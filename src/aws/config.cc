#include "aws/config.h"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace quotaflow::aws {
namespace {

// Python's str.isspace() for the ASCII range, which is all configparser and shlex meet in
// practice.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

Error ParseError(std::string_view file_name, int line, std::string_view why) {
  return Error::InvalidArgument("cannot parse " + std::string(file_name) + ":" +
                                std::to_string(line) + ": " + std::string(why));
}

// One option while parsing: its lines, joined at the end as configparser does.
struct RawOption {
  std::vector<std::string> lines;
};

struct RawSection {
  std::map<std::string, RawOption, std::less<>> options;
};

// botocore's _parse_nested: "key = value" lines, blank lines skipped, keys and values trimmed.
Result<std::map<std::string, std::string, std::less<>>> ParseNested(std::string_view value,
                                                                    std::string_view file_name,
                                                                    std::string_view option) {
  std::map<std::string, std::string, std::less<>> parsed;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find('\n', start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view line = Trim(value.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return tl::unexpected(Error::InvalidArgument("cannot parse " + std::string(file_name) +
                                                   ": a line of the nested section \"" +
                                                   std::string(option) + "\" has no '='"));
    }
    parsed[std::string(Trim(line.substr(0, eq)))] = std::string(Trim(line.substr(eq + 1)));
  }
  return parsed;
}

Result<IniSection> FinishSection(const RawSection& own, const RawSection& defaults,
                                 std::string_view file_name) {
  IniSection section;
  auto add = [&](const std::string& name, const RawOption& option) -> Status {
    std::string joined;
    for (size_t i = 0; i < option.lines.size(); ++i) {
      if (i > 0) joined += '\n';
      joined += option.lines[i];
    }
    joined.resize(TrimRight(joined).size());
    if (joined.starts_with('\n')) {
      auto nested = ParseNested(joined, file_name, name);
      if (!nested) return tl::unexpected(std::move(nested.error()));
      section.values.erase(name);
      section.subsections[name] = std::move(*nested);
    } else {
      section.subsections.erase(name);
      section.values[name] = std::move(joined);
    }
    return {};
  };
  // A section's own options override [DEFAULT]'s.
  for (const auto& [name, option] : defaults.options) {
    if (auto s = add(name, option); !s) return tl::unexpected(std::move(s.error()));
  }
  for (const auto& [name, option] : own.options) {
    if (auto s = add(name, option); !s) return tl::unexpected(std::move(s.error()));
  }
  return section;
}

// "[profile NAME]" -> NAME, as build_profile_map's _parse_section: the header split shell-like
// must be exactly two words.
std::optional<std::string> SecondWord(std::string_view header) {
  auto words = ShellSplit(header);
  if (!words || words->size() != 2) return std::nullopt;
  return (*words)[1];
}

Result<std::string> ReadFileIfExists(const std::string& path, bool* exists) {
  *exists = false;
  std::error_code ec;
  // botocore checks os.path.isfile: a directory or nothing at all is "no file".
  if (!std::filesystem::is_regular_file(path, ec)) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::unexpected(
        Error::Io("cannot read " + path + ": " + std::generic_category().message(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return tl::unexpected(Error::Io("cannot read " + path));
  *exists = true;
  return text.str();
}

}  // namespace

// --- Environment ---

Environment Environment::FromProcess() {
  Variables variables;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    // The first definition wins, as getenv's does.
    variables.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return Environment(std::move(variables));
}

Environment& Environment::Set(std::string name, std::string value) {
  variables_.insert_or_assign(std::move(name), std::move(value));
  return *this;
}

Environment& Environment::Unset(std::string_view name) {
  if (auto it = variables_.find(name); it != variables_.end()) variables_.erase(it);
  return *this;
}

std::optional<std::string> Environment::Get(std::string_view name) const {
  auto it = variables_.find(name);
  if (it == variables_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Environment::GetNonEmpty(std::string_view name) const {
  auto value = Get(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

// --- small helpers ---

std::string ExpandPath(std::string_view path, const Environment& env) {
  // posixpath.expandvars: $NAME or ${NAME}, NAME of word characters; unknown ones stay.
  std::string expanded;
  for (size_t i = 0; i < path.size();) {
    if (path[i] != '$' || i + 1 >= path.size()) {
      expanded += path[i++];
      continue;
    }
    size_t name_begin = i + 1;
    size_t name_end = name_begin;
    size_t next = 0;
    if (path[name_begin] == '{') {
      const size_t close = path.find('}', name_begin + 1);
      if (close == std::string_view::npos) {
        expanded += path[i++];
        continue;
      }
      name_begin += 1;
      name_end = close;
      next = close + 1;
    } else {
      while (name_end < path.size() && IsWordChar(path[name_end])) ++name_end;
      next = name_end;
    }
    const std::string_view name = path.substr(name_begin, name_end - name_begin);
    auto value = name.empty() ? std::nullopt : env.Get(name);
    if (!value) {
      expanded += path[i++];
      continue;
    }
    expanded += *value;
    i = next;
  }
  // posixpath.expanduser for "~" and "~/..." ("~user" would need the password database).
  if (expanded == "~" || expanded.starts_with("~/")) {
    if (auto home = env.Get("HOME")) {
      std::string_view home_dir = *home;
      while (!home_dir.empty() && home_dir.back() == '/') home_dir.remove_suffix(1);
      std::string result = std::string(home_dir) + expanded.substr(1);
      return result.empty() ? "/" : result;
    }
  }
  return expanded;
}

bool IsTrue(std::string_view value) { return Lower(value) == "true"; }

std::optional<std::vector<std::string>> ShellSplit(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started, even an empty quoted one ('')
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;  // "No escaped character"
      word += text[++i];
      in_word = true;
    } else if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return std::nullopt;  // "No closing quotation"
      word.append(text.substr(i + 1, close - i - 1));
      i = close;
      in_word = true;
    } else if (c == '"') {
      bool closed = false;
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"') {
          closed = true;
          break;
        }
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '\\' || text[i + 1] == '"')) {
          ++i;
        }
        word += text[i];
      }
      if (!closed) return std::nullopt;
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// --- INI ---

std::optional<std::string_view> IniSection::Get(std::string_view key) const {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  const std::string_view value = it->second;
  return value;
}

namespace {

// ParseIni, keeping the sections in file order (which build_profile_map depends on).
Result<std::vector<std::pair<std::string, IniSection>>> ParseIniInOrder(
    std::string_view text, std::string_view file_name) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);

  std::vector<std::pair<std::string, RawSection>> sections;  // in file order
  RawSection defaults;                                       // [DEFAULT]
  std::set<std::string, std::less<>> seen_sections;
  std::set<std::pair<std::string, std::string>> seen_options;
  RawSection* section = nullptr;
  std::string section_name;
  RawOption* option = nullptr;  // the option that continuation lines extend
  size_t indent_level = 0;

  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);

    const std::string_view stripped = Trim(line);
    const bool comment = stripped.starts_with('#') || stripped.starts_with(';');
    if (comment || stripped.empty()) {
      // A blank line inside a value is kept (and trimmed off its end later); a comment line is
      // dropped. Neither ends the value: configparser keeps empty lines in values.
      if (!comment && option != nullptr) option->lines.emplace_back();
      continue;
    }
    size_t indent = 0;
    while (indent < line.size() && IsSpace(line[indent])) ++indent;
    if (option != nullptr && indent > indent_level) {
      option->lines.emplace_back(stripped);
      continue;
    }
    indent_level = indent;

    // A section header: '[', at least one character, and the last ']' on the line (anything
    // after it is ignored, as configparser's SECTCRE.match does).
    const size_t close = stripped.rfind(']');
    if (stripped.starts_with('[') && close != std::string_view::npos && close >= 2) {
      std::string name(stripped.substr(1, close - 1));
      option = nullptr;
      if (name == "DEFAULT") {
        section = &defaults;
        section_name = std::move(name);
        continue;
      }
      if (!seen_sections.insert(name).second) {
        return tl::unexpected(ParseError(file_name, line_number, "section [" + name + "] repeats"));
      }
      sections.emplace_back(name, RawSection());
      section = &sections.back().second;
      section_name = std::move(name);
      continue;
    }
    if (section == nullptr) {
      return tl::unexpected(
          ParseError(file_name, line_number, "a setting before the first [section] header"));
    }
    const size_t delimiter = stripped.find_first_of("=:");
    if (delimiter == std::string_view::npos || delimiter == 0) {
      return tl::unexpected(
          ParseError(file_name, line_number, "expected \"name = value\" or a [section] header"));
    }
    std::string name = Lower(TrimRight(stripped.substr(0, delimiter)));
    if (!seen_options.emplace(section_name, name).second) {
      std::string why = "option \"" + name + "\" repeats in [";
      why += section_name;
      why += "]";
      return tl::unexpected(ParseError(file_name, line_number, why));
    }
    option = &section->options[name];
    option->lines.assign(1, std::string(Trim(stripped.substr(delimiter + 1))));
  }

  std::vector<std::pair<std::string, IniSection>> result;
  for (const auto& [name, raw] : sections) {
    auto finished = FinishSection(raw, defaults, file_name);
    if (!finished) return tl::unexpected(std::move(finished.error()));
    result.emplace_back(name, std::move(*finished));
  }
  return result;
}

}  // namespace

Result<IniSections> ParseIni(std::string_view text, std::string_view file_name) {
  auto sections = ParseIniInOrder(text, file_name);
  if (!sections) return tl::unexpected(std::move(sections.error()));
  IniSections result;
  for (auto& [name, section] : *sections) result.insert_or_assign(name, std::move(section));
  return result;
}

// --- shared files ---

std::optional<IniSection> SharedConfig::Profile(std::string_view name) const {
  auto from_config = profiles.find(name);
  auto from_credentials = credentials.find(name);
  if (from_config == profiles.end() && from_credentials == credentials.end()) return std::nullopt;
  IniSection merged;
  if (from_config != profiles.end()) merged = from_config->second;
  if (from_credentials != credentials.end()) {
    for (const auto& [key, value] : from_credentials->second.values) {
      merged.subsections.erase(key);
      merged.values.insert_or_assign(key, value);
    }
    for (const auto& [key, value] : from_credentials->second.subsections) {
      merged.values.erase(key);
      merged.subsections.insert_or_assign(key, value);
    }
  }
  return merged;
}

Result<SharedConfig> ParseSharedConfig(std::string_view config_text,
                                       std::string_view credentials_text,
                                       std::string_view config_file,
                                       std::string_view credentials_file) {
  SharedConfig shared;
  shared.config_file = std::string(config_file);
  shared.credentials_file = std::string(credentials_file);

  auto config = ParseIniInOrder(config_text, config_file);
  if (!config) return tl::unexpected(std::move(config.error()));
  // As botocore's build_profile_map: in file order, so that a later section of the same profile
  // replaces an earlier one ("[profile default]" after "[default]").
  for (auto& [name, section] : *config) {
    if (name.starts_with("profile")) {
      if (auto profile = SecondWord(name)) {
        shared.profiles.insert_or_assign(*profile, std::move(section));
      }
    } else if (name.starts_with("services")) {
      if (auto services = SecondWord(name)) {
        shared.services.insert_or_assign(*services, std::move(section));
      }
    } else if (name == "default") {
      shared.profiles.insert_or_assign("default", std::move(section));
    }
    // "sso-session" and any other section: not used by quotaflow.
  }

  auto credentials = ParseIni(credentials_text, credentials_file);
  if (!credentials) return tl::unexpected(std::move(credentials.error()));
  shared.credentials = std::move(*credentials);
  return shared;
}

Result<SharedConfig> LoadSharedConfig(const Environment& env) {
  const std::string config_file =
      ExpandPath(env.GetNonEmpty("AWS_CONFIG_FILE").value_or("~/.aws/config"), env);
  const std::string credentials_file = ExpandPath(
      env.GetNonEmpty("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"), env);
  bool config_exists = false;
  bool credentials_exists = false;
  auto config_text = ReadFileIfExists(config_file, &config_exists);
  if (!config_text) return tl::unexpected(std::move(config_text.error()));
  auto credentials_text = ReadFileIfExists(credentials_file, &credentials_exists);
  if (!credentials_text) return tl::unexpected(std::move(credentials_text.error()));
  return ParseSharedConfig(*config_text, *credentials_text, config_file, credentials_file);
}

// --- profile and region ---

std::optional<std::string> AwsConfig::Setting(const Environment& env, std::string_view env_name,
                                              std::string_view config_key) const {
  if (auto value = env.GetNonEmpty(env_name)) return value;
  if (auto value = profile.Get(config_key)) return std::string(*value);
  return std::nullopt;
}

Result<AwsConfig> ResolveAwsConfig(SharedConfig files, const Environment& env,
                                   const ConfigOverrides& overrides) {
  AwsConfig config;
  if (!overrides.profile.empty()) {
    config.profile_name = overrides.profile;
    config.profile_source = ProfileSource::kExplicit;
  } else if (auto name = env.GetNonEmpty("AWS_DEFAULT_PROFILE")) {
    config.profile_name = *name;
    config.profile_source = ProfileSource::kEnvironment;
  } else if (auto profile_env = env.GetNonEmpty("AWS_PROFILE")) {
    config.profile_name = *profile_env;
    config.profile_source = ProfileSource::kEnvironment;
  } else {
    config.profile_name = "default";
  }
  if (auto profile = files.Profile(config.profile_name)) {
    config.profile = std::move(*profile);
  } else if (config.profile_source != ProfileSource::kDefault) {
    return tl::unexpected(Error::NotFound("The config profile (" + config.profile_name +
                                          ") could not be found in " + files.config_file + " or " +
                                          files.credentials_file));
  }
  config.files = std::move(files);

  if (!overrides.region.empty()) {
    config.region = overrides.region;
    config.region_source = "--region";
  } else if (auto region = env.GetNonEmpty("AWS_REGION")) {
    config.region = *region;
    config.region_source = "AWS_REGION";
  } else if (auto default_region = env.GetNonEmpty("AWS_DEFAULT_REGION")) {
    config.region = *default_region;
    config.region_source = "AWS_DEFAULT_REGION";
  } else if (auto profile_region = config.profile.Get("region");
             profile_region && !profile_region->empty()) {
    config.region = std::string(*profile_region);
    config.region_source = "profile " + config.profile_name;
  }
  return config;
}

Result<std::optional<int>> MaxAttempts(const AwsConfig& config, const Environment& env) {
  std::optional<std::string> text = config.Setting(env, "AWS_MAX_ATTEMPTS", "max_attempts");
  if (!text) return std::optional<int>();
  const std::string where = env.GetNonEmpty("AWS_MAX_ATTEMPTS")
                                ? "AWS_MAX_ATTEMPTS"
                                : "max_attempts of profile " + config.profile_name;
  // Python's int(): surrounding whitespace and a sign are allowed (from_chars takes only '-').
  std::string_view digits = Trim(*text);
  if (digits.starts_with('+')) digits.remove_prefix(1);
  int value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value < 1) {
    return tl::unexpected(Error::InvalidArgument(
        where + " = '" + *text + "': the attempts must be an integer of at least 1"));
  }
  return std::optional<int>(value);
}

Result<AwsConfig> LoadAwsConfig(const Environment& env, const ConfigOverrides& overrides) {
  auto files = LoadSharedConfig(env);
  if (!files) return tl::unexpected(std::move(files.error()));
  return ResolveAwsConfig(std::move(*files), env, overrides);
}

}  // namespace quotaflow::aws
