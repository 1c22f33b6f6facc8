// The `quotaflow` command. This is the one file that sees CLI11 (STYLE.md): it maps each
// subcommand's flags onto that command's plain struct (<name>_command.h) and runs it. Adding a
// subcommand = a <name>_command.h/.cc pair and one Add<Name>Command function here.

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/emulate_command.h"
#include "emulator/config.h"

#ifndef QUOTAFLOW_VERSION
#error "QUOTAFLOW_VERSION must be defined (src/cli/CMakeLists.txt passes PROJECT_VERSION)"
#endif

namespace quotaflow::cli {
namespace {

// What the chosen subcommand does once its flags are parsed; returns the exit code.
using Runner = std::function<int()>;

void AddEmulateCommand(CLI::App& app, Runner* runner) {
  // Shared with the callback below, which outlives this function.
  auto flags = std::make_shared<EmulateFlags>();
  CLI::App* command = app.add_subcommand(
      "emulate", "Run a local Amazon Bedrock that throttles the way Bedrock does");
  command->footer(
      "Serves bedrock-runtime, inference profiles, Service Quotas and CloudWatch on one port "
      "until SIGINT or SIGTERM, and prints \"listening on http://HOST:PORT\" once it accepts "
      "requests. Flags override the config file. See docs/emulator.md.");
  command
      ->add_option("--config", flags->config_file,
                   "TOML config file (docs/emulator.example.toml shows every key)")
      ->type_name("FILE");
  command
      ->add_option_function<std::string>(
          "--address", [flags](const std::string& address) { flags->address = address; },
          "address to listen on (default 127.0.0.1)")
      ->type_name("ADDRESS");
  command
      ->add_option_function<int>(
          "--port", [flags](const int& port) { flags->port = static_cast<uint16_t>(port); },
          "TCP port (default 8970); 0 = any free port, printed at start")
      ->type_name("N")
      ->check(CLI::Range(0, 65535));
  command
      ->add_option_function<uint64_t>(
          "--seed", [flags](const uint64_t& seed) { flags->seed = seed; },
          "seed for generated text, output lengths, jitter and faults (default 1)")
      ->type_name("N");
  command
      ->add_option_function<int>(
          "--threads", [flags](const int& threads) { flags->threads = threads; },
          "I/O threads (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, emulator::kMaxServerThreads));
  command
      ->add_option_function<std::string>(
          "--mode", [flags](const std::string& mode) { flags->mode = mode; },
          "how a period's quota is counted: token_bucket (default), fixed_window or "
          "sliding_window")
      ->type_name("MODE");
  command
      ->add_option_function<std::string>(
          "--period", [flags](const std::string& period) { flags->period = period; },
          "the quota period (default 1m; e.g. 6s runs a minute of quota in 6 seconds)")
      ->type_name("DURATION");
  command->add_flag("--no-latency", flags->no_latency,
                    "answer at once: time to first token, per-token time and jitter all 0");
  command->callback([flags, runner] { *runner = [flags] { return RunEmulate(*flags); }; });
}

int Main(int argc, char** argv) {
  CLI::App app("quotaflow: run LLM workloads on Amazon Bedrock at the full rate your quotas allow",
               "quotaflow");
  app.set_version_flag("--version", "quotaflow " QUOTAFLOW_VERSION);
  app.require_subcommand(1);
  Runner runner;
  AddEmulateCommand(app, &runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0; CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "quotaflow: " << e.what() << " (see quotaflow --help)" << std::endl;
    return kExitUsage;
  }
  return runner();
}

}  // namespace
}  // namespace quotaflow::cli

int main(int argc, char** argv) { return quotaflow::cli::Main(argc, argv); }
