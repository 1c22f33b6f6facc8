#include "cli/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "report/chart.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;

std::string CellText(const json::value& cell, bool for_people) {
  switch (cell.kind()) {
    case json::kind::null:
      return for_people ? "-" : "";
    case json::kind::bool_:
      return cell.get_bool() ? (for_people ? "yes" : "true") : (for_people ? "no" : "false");
    case json::kind::string:
      return std::string(cell.get_string());
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      const double number = cell.to_number<double>();
      if (for_people) return FormatNumber(number);
      if (number == std::round(number) && std::fabs(number) < 9.0e15) {
        return fmt::format("{}", static_cast<int64_t>(number));
      }
      return fmt::format("{}", number);
    }
    default:
      return json::serialize(cell);
  }
}

bool IsNumber(const json::value& cell) { return cell.is_number(); }

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

void AppendPretty(const json::value& value, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  if (value.is_object()) {
    const json::object& object = value.get_object();
    if (object.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& [key, item] : object) {
      if (!first) out += ",\n";
      first = false;
      out += inner;
      out += json::serialize(json::value(key));
      out += ": ";
      AppendPretty(item, indent + 1, out);
    }
    out += "\n" + pad + "}";
  } else if (value.is_array()) {
    const json::array& array = value.get_array();
    if (array.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const json::value& item : array) {
      if (!first) out += ",\n";
      first = false;
      out += inner;
      AppendPretty(item, indent + 1, out);
    }
    out += "\n" + pad + "]";
  } else {
    out += json::serialize(value);
  }
}

}  // namespace

Result<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "csv") return OutputFormat::kCsv;
  return tl::unexpected(Error::InvalidArgument(
      fmt::format("--output: unknown format '{}' (expected table, json or csv)", name)));
}

json::value TableToJson(const Table& table) {
  json::array rows;
  for (const auto& row : table.rows) {
    json::object object;
    for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
      object[table.columns[i]] = row[i];
    }
    rows.emplace_back(std::move(object));
  }
  return rows;
}

std::string RenderTextTable(const Table& table) {
  std::vector<size_t> widths(table.columns.size());
  std::vector<bool> numeric(table.columns.size(), false);
  std::vector<std::vector<std::string>> cells;
  for (size_t i = 0; i < table.columns.size(); ++i) widths[i] = table.columns[i].size();
  for (const auto& row : table.rows) {
    std::vector<std::string>& texts = cells.emplace_back();
    for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
      texts.push_back(CellText(row[i], /*for_people=*/true));
      widths[i] = std::max(widths[i], texts.back().size());
      if (IsNumber(row[i])) numeric[i] = true;
    }
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& texts) {
    std::string line;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (i > 0) line += "  ";
      const size_t fill = widths[i] - texts[i].size();
      if (numeric[i]) line.append(fill, ' ');
      line += texts[i];
      if (!numeric[i] && i + 1 < texts.size()) line.append(fill, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append_line(table.columns);
  std::vector<std::string> rule;
  rule.reserve(widths.size());
  for (size_t width : widths) rule.emplace_back(width, '-');
  append_line(rule);
  for (const auto& texts : cells) append_line(texts);
  return out;
}

std::string RenderCsv(const Table& table) {
  std::string out;
  auto append_line = [&out](const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += CsvField(fields[i]);
    }
    out += "\r\n";
  };
  append_line(table.columns);
  for (const auto& row : table.rows) {
    std::vector<std::string> fields;
    fields.reserve(row.size());
    for (const json::value& cell : row) fields.push_back(CellText(cell, /*for_people=*/false));
    append_line(fields);
  }
  return out;
}

std::string RenderTable(const Table& table, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson:
      return PrettyJson(TableToJson(table));
    case OutputFormat::kCsv:
      return RenderCsv(table);
    case OutputFormat::kTable:
      break;
  }
  return RenderTextTable(table);
}

std::string PrettyJson(const json::value& value) {
  std::string out;
  AppendPretty(value, 0, out);
  out += '\n';
  return out;
}

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  if (value == std::round(value) && std::fabs(value) < 9.0e15) {
    return report::FormatThousands(static_cast<int64_t>(value));
  }
  const double whole = std::trunc(value);
  std::string fraction = fmt::format("{:.2f}", std::fabs(value - whole));  // "0.25"
  if (fraction == "1.00") return FormatNumber(std::round(value));
  std::string text = report::FormatThousands(static_cast<int64_t>(whole));
  if (value < 0 && whole == 0) text = "-0";
  text += fraction.substr(1);
  while (text.back() == '0') text.pop_back();
  return text;
}

std::string FormatUtc(WallTime time) {
  const std::time_t seconds = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, n);
}

}  // namespace quotaflow::cli
