#pragma once
// The emulator's TOML configuration (`quotaflow emulate --config FILE`). A file sets any subset of
// EmulatorOptions; whatever it leaves out keeps its default from options.h.
// docs/emulator.example.toml spells out every key with its default, docs/emulator.md explains them.
//
// Layout: top-level `seed` and `model_catalog`, then the tables [server], [auth] (with
// [[auth.credentials]]), [quotas] (with [quotas.on_demand], [quotas.cross_region],
// [quotas.global] and [[quotas.override]]), [service_quotas], [output], [latency], [faults] and
// [[application_profile]].
// Durations are strings with a unit ("250ms", "6s", "1m", "1m30s", "2h") or "0".
//
// The file is checked whole before anything is used: an unknown key (a typo must not silently
// leave a default in force), a value of the wrong type, out of range or not among the allowed
// names fails with kInvalidArgument, "<source>:<line>: <dotted.key>: why".
//
// Thread safety: the functions are safe from any thread (LoadEmulatorConfig reads one file).

#include <filesystem>
#include <string>
#include <string_view>

#include "emulator/options.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {

// Upper bound of server.threads (and of `quotaflow emulate --threads`): far above what one
// emulator needs, low enough that a typo cannot start a million threads.
inline constexpr int kMaxServerThreads = 256;

// Parses a TOML document into options, starting from the defaults. `source_name` (a path, or
// "<flags>") only labels the errors.
Result<EmulatorOptions> ParseEmulatorConfig(std::string_view toml_text,
                                            std::string_view source_name);

// Reads and parses `path`. kIo when the file cannot be read; otherwise as ParseEmulatorConfig.
Result<EmulatorOptions> LoadEmulatorConfig(const std::filesystem::path& path);

}  // namespace quotaflow::emulator
