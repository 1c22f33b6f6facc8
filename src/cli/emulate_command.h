#pragma once
// `quotaflow emulate`: runs the Bedrock emulator (emulator/emulator.h) until SIGINT or SIGTERM.
// Options come from the defaults (emulator/options.h), then the --config file, then the flags.

#include <cstdint>
#include <optional>
#include <string>

#include "emulator/options.h"
#include "quotaflow/error.h"

namespace quotaflow::cli {

// The command line of `emulate`; an unset flag leaves the file's (or the default) value.
struct EmulateFlags {
  std::string config_file;  // --config; empty = defaults only
  std::optional<std::string> address;
  std::optional<uint16_t> port;  // 0 = any free port
  std::optional<uint64_t> seed;
  std::optional<int> threads;
  std::optional<std::string> mode;    // a CountingMode name
  std::optional<std::string> period;  // a duration ("6s")
  bool no_latency = false;            // every latency setting 0, for throughput runs
};

// The options a run uses. kInvalidArgument for a bad config file or flag value, kIo for a config
// file that cannot be read (both usage errors to the caller: the same command fails again).
Result<emulator::EmulatorOptions> ResolveEmulatorOptions(const EmulateFlags& flags);

// The line printed once the emulator listens, which scripts and tests parse for the port:
// "quotaflow emulate: listening on http://127.0.0.1:PORT (region ...; access key ...; ...)".
std::string ListeningLine(const emulator::EmulatorOptions& options, const std::string& endpoint);

// Resolves the options, starts the emulator, prints ListeningLine to stdout, waits for SIGINT or
// SIGTERM and stops gracefully. Returns the exit code (command.h): 0 after a signal, 2 for a bad
// flag or config, 1 when the emulator cannot start (port in use, unreadable model catalog).
// REQUIRES: no other thread runs yet (see signals.h).
int RunEmulate(const EmulateFlags& flags);

}  // namespace quotaflow::cli
