#include "cli/command.h"

#include <iostream>
#include <string>

namespace quotaflow::cli {

int ExitCodeFor(const Error& error) {
  return error.code == ErrorCode::kInvalidArgument ? kExitUsage : kExitRuntime;
}

void ReportError(std::string_view command, const Error& error) {
  std::string message = error.message.empty() ? error.ToString() : error.message;
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "quotaflow " << command << ": " << message << std::endl;
}

int Fail(std::string_view command, const Error& error) {
  ReportError(command, error);
  return ExitCodeFor(error);
}

}  // namespace quotaflow::cli
