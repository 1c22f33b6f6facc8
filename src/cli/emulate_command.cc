#include "cli/emulate_command.h"

#include <csignal>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/signals.h"
#include "emulator/config.h"
#include "emulator/emulator.h"
#include "emulator/quota_books.h"
#include "quotaflow/duration_text.h"

namespace quotaflow::cli {
namespace {

constexpr std::string_view kCommand = "emulate";

Error FlagError(std::string_view flag, const Error& error) {
  return Error::InvalidArgument(std::string(flag) + ": " + error.message);
}

// "no <noun>s", "<noun> A" or "<noun>s A, B".
std::string Listing(std::string_view noun, const std::vector<std::string>& values) {
  if (values.empty()) return "no " + std::string(noun) + "s";
  std::string out = std::string(noun) + (values.size() == 1 ? " " : "s ");
  for (size_t i = 0; i < values.size(); ++i) out += (i == 0 ? "" : ", ") + values[i];
  return out;
}

}  // namespace

Result<emulator::EmulatorOptions> ResolveEmulatorOptions(const EmulateFlags& flags) {
  emulator::EmulatorOptions options;
  if (!flags.config_file.empty()) {
    Result<emulator::EmulatorOptions> loaded = emulator::LoadEmulatorConfig(flags.config_file);
    if (!loaded) return loaded;
    options = std::move(*loaded);
  }
  if (flags.address) options.server.address = *flags.address;
  if (flags.port) options.server.port = *flags.port;
  if (flags.seed) options.seed = *flags.seed;
  if (flags.threads) options.server.threads = *flags.threads;
  if (flags.mode) {
    Result<emulator::CountingMode> mode = emulator::ParseCountingMode(*flags.mode);
    if (!mode) return tl::make_unexpected(FlagError("--mode", mode.error()));
    options.quotas.books.mode = *mode;
  }
  if (flags.period) {
    Result<Duration> period = ParseDuration(*flags.period);
    if (!period) return tl::make_unexpected(FlagError("--period", period.error()));
    // The rule for a period is the books' own.
    if (Status valid = emulator::Validate(emulator::BooksOptions{.period = *period}); !valid) {
      return tl::make_unexpected(FlagError("--period", valid.error()));
    }
    options.quotas.books.period = *period;
  }
  if (flags.no_latency) {
    options.latency = {.time_to_first_token = Duration::zero(),
                       .per_output_token = Duration::zero(),
                       .jitter = Duration::zero()};
  }
  return options;
}

std::string ListeningLine(const emulator::EmulatorOptions& options, const std::string& endpoint) {
  std::string line = "quotaflow emulate: listening on " + endpoint + " (";
  if (options.server.address != "127.0.0.1") line += "bound to " + options.server.address + "; ";
  line += "region " + options.auth.default_region + " default; ";
  std::vector<std::string> access_keys;
  access_keys.reserve(options.auth.credentials.size());
  for (const emulator::Credential& credential : options.auth.credentials) {
    access_keys.push_back(credential.access_key_id);
  }
  line += Listing("access key", access_keys) + "; ";
  line += Listing("bearer key", options.auth.bearer_keys) + "; ";
  line += std::string(emulator::CountingModeName(options.quotas.books.mode)) + " per " +
          FormatDuration(options.quotas.books.period) + "; ";
  const emulator::LatencyOptions& latency = options.latency;
  if (latency.time_to_first_token == Duration::zero() &&
      latency.per_output_token == Duration::zero() && latency.jitter == Duration::zero()) {
    line += "no latency; ";
  }
  line += "seed " + std::to_string(options.seed) + ")";
  return line;
}

int RunEmulate(const EmulateFlags& flags) {
  Result<emulator::EmulatorOptions> options = ResolveEmulatorOptions(flags);
  if (!options) {
    // An unreadable config file is a usage error too: the same command line fails again.
    ReportError(kCommand, options.error());
    return kExitUsage;
  }
  // Before the emulator starts its I/O threads, which inherit the mask.
  const sigset_t signals = BlockShutdownSignals();
  emulator::Emulator emulator(*options);
  if (Status started = emulator.Start(); !started) {
    ReportError(kCommand, started.error());
    return ExitCodeFor(started.error());
  }
  // Flushed at once: whoever started us may be waiting for this line to learn the port.
  std::cout << ListeningLine(*options, emulator.endpoint()) << std::endl;
  const int signal = WaitForShutdownSignal(signals);
  std::cerr << "quotaflow emulate: " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping"
            << std::endl;
  emulator.Stop();
  return kExitOk;
}

}  // namespace quotaflow::cli
