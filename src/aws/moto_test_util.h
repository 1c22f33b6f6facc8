#pragma once
// Test-only: moto_server, a second, independent implementation of the CloudWatch and STS wire
// protocols, and boto3 scripts run against it. Shared by the STS credential tests, the CloudWatch
// client's tests and the CLI's.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "aws/test_process.h"
#include "aws/testdata.h"

namespace quotaflow::testing_util {

// moto_server, started once for the suite (it takes a few seconds), under a watchdog parent that
// stops it when our end of its stdin closes, so that even a crashed test leaves no server behind
// (credentials_test.cc does the same for STS).
class MotoServer {
 public:
  static MotoServer& Get() {
    static MotoServer server;
    return server;
  }
  std::string error;
  std::string url;
  std::string python;

 private:
  // moto reads AWS_PROFILE itself (and fails every call when it names no profile), and has been
  // seen to ignore a SIGTERM while shutting down: the parent drops the one and kills after a grace.
  static constexpr const char* kWatchdog =
      "import os, signal, subprocess, sys\n"
      "env = {k: v for k, v in os.environ.items() if k not in ('AWS_PROFILE', "
      "'AWS_DEFAULT_PROFILE')}\n"
      "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, env=env)\n"
      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
      "sys.stdin.buffer.read()\n"
      "p.terminate()\n"
      "try:\n"
      "    p.wait(timeout=10)\n"
      "except subprocess.TimeoutExpired:\n"
      "    p.kill()\n"
      "    p.wait()\n";

  MotoServer() {
    auto moto = FindProgram("moto_server");
    auto python3 = FindProgram("python3");
    if (!moto || !python3) {
      error = "moto_server or python3 not found in PATH";
      return;
    }
    python = *python3;
    auto boto3 = Child::Spawn({python, "-c", "import boto3"},
                              /*merge_stderr=*/true, &error);
    if (!boto3 || boto3->Wait().first != 0) {
      error = "python3 cannot import boto3";
      return;
    }
    child_ = Child::Spawn({python, "-c", kWatchdog, *moto, "-H", "127.0.0.1", "-p", "0"},
                          /*merge_stderr=*/true, &error);
    if (!child_) return;
    // werkzeug announces " * Running on http://127.0.0.1:<port>".
    while (auto line = child_->ReadLine(std::chrono::seconds(60))) {
      const size_t at = line->find("Running on http://");
      if (at != std::string::npos) {
        url = line->substr(at + 11);
        while (!url.empty() && (url.back() == '\r' || url.back() == ' ' || url.back() == '/')) {
          url.pop_back();
        }
        return;
      }
    }
    error = "moto_server did not report its address";
  }
  std::unique_ptr<Child> child_;
};

#define QF_REQUIRE_MOTO(var)                                                         \
  MotoServer& var = MotoServer::Get();                                               \
  if ((var).url.empty()) {                                                           \
    if (::quotaflow::testdata::RunningInCi()) FAIL() << (var).error << " (CI=true)"; \
    GTEST_SKIP() << (var).error << "; these tests need moto and boto3 (pip install " \
                 << "'moto[server]' boto3)";                                         \
  }

// Runs a boto3 script against moto: argv[1] is moto's URL, argv[2] an epoch second, argv[3] the
// test's tag. Returns its stdout, or fails the test.
inline std::string RunBoto3(const MotoServer& moto, const char* script, int64_t base,
                            const std::string& tag) {
  std::string error;
  auto child = Child::Spawn({moto.python, "-c", script, moto.url, std::to_string(base), tag},
                            /*merge_stderr=*/true, &error);
  EXPECT_NE(child, nullptr) << error;
  if (child == nullptr) return {};
  auto [status, output] = child->Wait();
  EXPECT_EQ(status, 0) << output;
  return output;
}

}  // namespace quotaflow::testing_util
