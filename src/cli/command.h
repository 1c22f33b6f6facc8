#pragma once
// What every `quotaflow` subcommand shares: its exit codes and how an error becomes one.
// Each subcommand is a <name>_command.h/.cc pair: a plain struct of its flags and a Run function
// (testable without a command line); main.cc, the only file that sees CLI11, maps the flags onto
// the struct and calls Run.

#include <string_view>

#include "quotaflow/error.h"

namespace quotaflow::cli {

inline constexpr int kExitOk = 0;
// Something failed while running: the port is taken, a file cannot be written, AWS said no.
inline constexpr int kExitRuntime = 1;
// The command line or a config file is wrong: running again unchanged fails again.
inline constexpr int kExitUsage = 2;

// kExitUsage for kInvalidArgument (a bad flag or config value), kExitRuntime otherwise.
int ExitCodeFor(const Error& error);

// Prints "quotaflow <command>: <message>" as one line on stderr: scripts grep for it, and a
// multi-line message would break that.
void ReportError(std::string_view command, const Error& error);

// ReportError, then ExitCodeFor: `return Fail("quotas list", error);`.
int Fail(std::string_view command, const Error& error);

}  // namespace quotaflow::cli
