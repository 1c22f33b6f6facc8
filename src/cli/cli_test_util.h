#pragma once
// Tests only. The built `quotaflow` binary run as a user on a fresh machine would run it: a clean
// environment (no AWS config files, HOME in the test's temp dir, no instance metadata) holding the
// emulator's documented keys, so only what a test passes reaches it.
//
// REQUIRES: the including test defines QUOTAFLOW_BINARY (src/cli/CMakeLists.txt does).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "aws/test_process.h"
#include "emulator/options.h"

namespace quotaflow::cli {

// Starts QUOTAFLOW_BINARY with `args`, `env` ("NAME=value", later ones win) on top of the clean
// environment, and its stderr sent to `err_file`. Null (with `error` set) if it cannot start.
inline std::unique_ptr<testing_util::Child> SpawnQuotaflow(const std::filesystem::path& home,
                                                           const std::string& err_file,
                                                           const std::vector<std::string>& args,
                                                           const std::vector<std::string>& env,
                                                           std::string* error) {
  std::vector<std::string> argv = {
      "/usr/bin/env",
      "-i",
      "PATH=/usr/bin:/bin",
      "HOME=" + home.string(),
      "AWS_CONFIG_FILE=/dev/null",
      "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
      "AWS_EC2_METADATA_DISABLED=true",
      std::string("AWS_ACCESS_KEY_ID=") + emulator::kDefaultAccessKeyId,
      std::string("AWS_SECRET_ACCESS_KEY=") + emulator::kDefaultSecretAccessKey};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>" + err_file, QUOTAFLOW_BINARY});
  argv.insert(argv.end(), args.begin(), args.end());
  return testing_util::Child::Spawn(argv, /*merge_stderr=*/false, error);
}

}  // namespace quotaflow::cli
