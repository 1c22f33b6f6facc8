// `quotaflow` as a user runs it: the built binary in a child process, its exit codes, what it
// prints, and an emulator that announces its port, answers on it and stops on a signal. The flag
// resolution and the listening line are also checked in-process.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aws/test_process.h"
#include "cli/emulate_command.h"
#include "emulator/config.h"
#include "emulator/quota_books.h"

namespace quotaflow::cli {
namespace {

using std::chrono::seconds;
using testing_util::Child;
using testing_util::TempDir;

constexpr char kListening[] = "quotaflow emulate: listening on http://127.0.0.1:";

// The binary, its exit code and everything it printed (stdout and stderr together).
std::pair<int, std::string> RunQuotaflow(std::vector<std::string> args) {
  args.insert(args.begin(), QUOTAFLOW_BINARY);
  std::string error;
  std::unique_ptr<Child> child = Child::Spawn(args, /*merge_stderr=*/true, &error);
  if (child == nullptr) {
    ADD_FAILURE() << error;
    return {-1, ""};
  }
  return child->Wait(seconds(30));
}

// A running `quotaflow emulate` and the port it announced.
struct Emulate {
  std::unique_ptr<Child> child;
  std::string line;  // the listening line
  int port = 0;
};

// Starts `quotaflow emulate ARGS` and reads its first line; port stays 0 when it did not announce
// one (the test then fails on it).
Emulate StartEmulate(std::vector<std::string> args) {
  args.insert(args.begin(), {QUOTAFLOW_BINARY, "emulate"});
  Emulate emulate;
  std::string error;
  emulate.child = Child::Spawn(args, /*merge_stderr=*/false, &error);
  if (emulate.child == nullptr) {
    ADD_FAILURE() << error;
    return emulate;
  }
  emulate.line = emulate.child->ReadLine(seconds(30)).value_or("");
  if (emulate.line.starts_with(kListening)) {
    emulate.port = std::stoi(emulate.line.substr(sizeof kListening - 1));
  }
  return emulate;
}

// Sends one HTTP/1.1 request to 127.0.0.1:port and returns the whole response ("" when the
// connection fails or stays silent for 10 s).
std::string HttpGet(int port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      pollfd readable{fd, POLLIN, 0};
      char buf[4096];
      while (poll(&readable, 1, 10'000) > 0) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        response.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  return response;
}

TEST(QuotaflowBinary, VersionPrintsTheProjectVersion) {
  EXPECT_EQ(RunQuotaflow({"--version"}),
            std::make_pair(0, std::string("quotaflow " QUOTAFLOW_VERSION "\n")));
}

TEST(QuotaflowBinary, HelpListsCommandsAndFlags) {
  auto [code, output] = RunQuotaflow({"--help"});
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("emulate"), std::string::npos) << output;

  std::tie(code, output) = RunQuotaflow({"emulate", "--help"});
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--config", "--port", "--address", "--seed", "--threads", "--mode",
                           "--period", "--no-latency"}) {
    EXPECT_NE(output.find(flag), std::string::npos) << flag << " missing from\n" << output;
  }
}

TEST(QuotaflowBinary, UsageErrorsExitTwoWithOneLine) {
  EXPECT_EQ(RunQuotaflow({}),
            std::make_pair(2, std::string("quotaflow: A subcommand is required (see "
                                          "quotaflow --help)\n")));
  EXPECT_EQ(RunQuotaflow({"frobnicate"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"emulate", "--bogus"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"emulate", "--port", "65536"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"emulate", "--port", "http"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"emulate", "--threads", "0"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"emulate", "--mode", "leaky"}),
            std::make_pair(2, std::string("quotaflow emulate: --mode: unknown counting mode "
                                          "'leaky' (expected token_bucket, fixed_window or "
                                          "sliding_window)\n")));
  EXPECT_EQ(RunQuotaflow({"emulate", "--period", "0"}),
            std::make_pair(2, std::string("quotaflow emulate: --period: quota period must be in "
                                          "(0, 24 h]\n")));
  EXPECT_EQ(RunQuotaflow({"emulate", "--period", "6"}),
            std::make_pair(2, std::string("quotaflow emulate: --period: invalid duration \"6\": "
                                          "missing unit (ns, us, ms, s, m or h)\n")));
}

TEST(QuotaflowBinary, ConfigErrorsExitTwoNamingFileAndLine) {
  TempDir dir("quotaflow-cli");
  ASSERT_TRUE(dir.ok());
  const std::string bad = dir.Write("bad.toml", "[server]\nprot = 0\n");
  EXPECT_EQ(RunQuotaflow({"emulate", "--config", bad}),
            std::make_pair(2, "quotaflow emulate: " + bad +
                                  ":2: server.prot: unknown key (did you mean port?)\n"));
  const std::string missing = (dir.path() / "missing.toml").string();
  EXPECT_EQ(RunQuotaflow({"emulate", "--config", missing}),
            std::make_pair(
                2, "quotaflow emulate: cannot read " + missing + ": No such file or directory\n"));
}

TEST(QuotaflowBinary, EmulateAnnouncesItsPortServesAndStopsOnSigterm) {
  Emulate emulate = StartEmulate({"--port", "0", "--no-latency"});
  ASSERT_GT(emulate.port, 0) << emulate.line;
  EXPECT_EQ(emulate.line, kListening + std::to_string(emulate.port) +
                              " (region us-east-1 default; access key AKIAIOSFODNN7EXAMPLE; "
                              "bearer key ABSKQmVkcm9ja0VtdWxhdG9yS2V5; token_bucket per 1m; "
                              "no latency; seed 1)");
  const std::string state = HttpGet(emulate.port, "/_quotaflow/state");
  EXPECT_TRUE(state.starts_with("HTTP/1.1 200")) << state;

  ASSERT_EQ(kill(emulate.child->pid(), SIGTERM), 0);
  auto [code, rest] = emulate.child->Wait(seconds(30));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(rest, "");  // stdout carries the listening line only
}

TEST(QuotaflowBinary, SigintStopsItToo) {
  Emulate emulate = StartEmulate({"--port", "0"});
  ASSERT_GT(emulate.port, 0) << emulate.line;
  ASSERT_EQ(kill(emulate.child->pid(), SIGINT), 0);
  EXPECT_EQ(emulate.child->Wait(seconds(30)).first, 0);
}

TEST(QuotaflowBinary, FlagsOverrideTheConfigFile) {
  TempDir dir("quotaflow-cli");
  ASSERT_TRUE(dir.ok());
  const std::string config =
      dir.Write("emulator.toml",
                "seed = 7\n[server]\nport = 1\n[quotas]\nmode = \"fixed_window\"\n"
                "period = \"6s\"\n[auth]\nbearer_keys = []\n");
  Emulate emulate =
      StartEmulate({"--config", config, "--port", "0", "--mode", "sliding_window", "--seed", "9"});
  ASSERT_GT(emulate.port, 0) << emulate.line;
  EXPECT_NE(emulate.line.find("; no bearer keys; sliding_window per 6s; seed 9)"),
            std::string::npos)
      << emulate.line;
}

TEST(QuotaflowBinary, PortInUseExitsOne) {
  Emulate first = StartEmulate({"--port", "0"});
  ASSERT_GT(first.port, 0) << first.line;
  auto [code, output] = RunQuotaflow({"emulate", "--port", std::to_string(first.port)});
  EXPECT_EQ(code, 1) << output;
  EXPECT_TRUE(output.starts_with("quotaflow emulate: ")) << output;
  EXPECT_EQ(output.find('\n'), output.size() - 1) << "one line: " << output;
}

TEST(ResolveEmulatorOptions, DefaultsWithoutFlagsOrFile) {
  Result<emulator::EmulatorOptions> options = ResolveEmulatorOptions({});
  ASSERT_TRUE(options.has_value()) << options.error().message;
  EXPECT_EQ(options->server.port, 8970);
  EXPECT_EQ(options->latency.time_to_first_token, std::chrono::milliseconds(300));
}

TEST(ResolveEmulatorOptions, FlagsWinOverTheFile) {
  TempDir dir("quotaflow-cli");
  ASSERT_TRUE(dir.ok());
  EmulateFlags flags;
  flags.config_file = dir.Write("emulator.toml",
                                "seed = 3\n[server]\naddress = \"0.0.0.0\"\nthreads = 2\n"
                                "[quotas]\nperiod = \"10s\"\n[latency]\njitter = \"1s\"\n");
  flags.port = 0;
  flags.threads = 4;
  flags.period = "6s";
  flags.no_latency = true;
  Result<emulator::EmulatorOptions> options = ResolveEmulatorOptions(flags);
  ASSERT_TRUE(options.has_value()) << options.error().message;
  EXPECT_EQ(options->seed, 3u);                   // from the file
  EXPECT_EQ(options->server.address, "0.0.0.0");  // from the file
  EXPECT_EQ(options->server.port, 0);
  EXPECT_EQ(options->server.threads, 4);
  EXPECT_EQ(options->quotas.books.period, seconds(6));
  EXPECT_EQ(options->latency.time_to_first_token, Duration::zero());
  EXPECT_EQ(options->latency.per_output_token, Duration::zero());
  EXPECT_EQ(options->latency.jitter, Duration::zero());
}

TEST(ListeningLine, NamesEndpointCredentialsAndQuotaCounting) {
  emulator::EmulatorOptions options;
  EXPECT_EQ(ListeningLine(options, "http://127.0.0.1:8970"),
            "quotaflow emulate: listening on http://127.0.0.1:8970 (region us-east-1 default; "
            "access key AKIAIOSFODNN7EXAMPLE; bearer key ABSKQmVkcm9ja0VtdWxhdG9yS2V5; "
            "token_bucket per 1m; seed 1)");
  options.server.address = "0.0.0.0";
  options.auth.credentials.push_back({"AKIA2", "secret"});
  options.auth.bearer_keys.clear();
  options.quotas.books = {.mode = emulator::CountingMode::kFixedWindow,
                          .period = std::chrono::milliseconds(1500)};
  EXPECT_EQ(ListeningLine(options, "http://127.0.0.1:1"),
            "quotaflow emulate: listening on http://127.0.0.1:1 (bound to 0.0.0.0; region "
            "us-east-1 default; access keys AKIAIOSFODNN7EXAMPLE, AKIA2; no bearer keys; "
            "fixed_window per 1s500ms; seed 1)");
}

}  // namespace
}  // namespace quotaflow::cli
