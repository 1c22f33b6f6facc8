#pragma once
// How the AWS-facing commands print what they found, as `aws --output` does: an aligned text
// table for people, JSON for scripts (an array of objects keyed by column), or CSV for
// spreadsheets. One Table value feeds all three, so the formats never disagree.

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::cli {

enum class OutputFormat : uint8_t { kTable, kJson, kCsv };

// "table", "json" or "csv"; kInvalidArgument ("--output: ...") for anything else.
Result<OutputFormat> ParseOutputFormat(std::string_view name);

// Rows of typed cells: strings, numbers, booleans or null (shown "-" in a table, empty in CSV).
struct Table {
  std::vector<std::string> columns;  // snake_case: also the JSON keys and the CSV header
  std::vector<std::vector<boost::json::value>> rows;  // each columns.size() cells
};

// The array of row objects.
boost::json::value TableToJson(const Table& table);
// Columns padded to their widest cell, numbers right-aligned with thousands separators.
std::string RenderTextTable(const Table& table);
// RFC 4180: a header line, then a line per row; fields quoted when they need it.
std::string RenderCsv(const Table& table);
// The table in `format`; JSON pretty-printed, with a trailing newline.
std::string RenderTable(const Table& table, OutputFormat format);

// JSON text, indented two spaces per level, with a trailing newline.
std::string PrettyJson(const boost::json::value& value);

// A number for people: integers with thousands separators, others with up to 2 decimals.
std::string FormatNumber(double value);
// "2025-01-01T00:05:00Z".
std::string FormatUtc(WallTime time);

}  // namespace quotaflow::cli
