// quotaflow::Client under load: many requests queued and in flight on its one loop thread.
//
//   client_load [--queued 20000] [--in-flight 1000] [--latency-ms 2000]
//
// Two runs against an in-process emulator (the emulator's I/O on a thread of its own):
//  - queue: `--queued` requests submitted at once against a TPM quota that admits a tenth of them
//    per second, so most wait in the scheduler; reports the submit rate, the client's memory per
//    queued request (RSS growth / queued), and its threads.
//  - in flight: `--in-flight` requests held by the emulator for `--latency-ms` each (time to first
//    token), quota unbounded; reports the peak requests in flight and the client's threads.
// A plain table, not a Google Benchmark: the figures are whole-run, and the README quotes them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include "aws/credentials_provider.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "quotaflow/client.h"

namespace {

using quotaflow::Client;
using quotaflow::ClientOptions;
using quotaflow::Duration;
using quotaflow::ModelRequest;
using quotaflow::RequestResult;
using quotaflow::SystemClock;
using quotaflow::ToSeconds;

constexpr char kModel[] = "amazon.nova-lite-v1:0";

// A field of /proc/self/status ("VmRSS", "Threads"), as a number (kB for sizes).
int64_t ProcStatus(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::strtoll(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

std::string Body(int i) {
  return R"({"messages":[{"role":"user","content":[{"text":"Summarize contract )" +
         std::to_string(i) + R"( in one line."}]}],"inferenceConfig":{"maxTokens":100}})";
}

struct Run {
  std::unique_ptr<quotaflow::emulator::Emulator> emulator;
  quotaflow::aws::StaticCredentialsProvider credentials{quotaflow::aws::Credentials{
      quotaflow::emulator::kDefaultAccessKeyId, quotaflow::emulator::kDefaultSecretAccessKey, ""}};
  std::unique_ptr<Client> client;

  bool Start(quotaflow::emulator::EmulatorOptions eo, int64_t tpm) {
    eo.server.port = 0;
    emulator = std::make_unique<quotaflow::emulator::Emulator>(std::move(eo));
    if (auto s = emulator->Start(); !s) {
      std::fprintf(stderr, "emulator: %s\n", s.error().message.c_str());
      return false;
    }
    ClientOptions o;
    o.endpoint = emulator->endpoint();
    o.credentials = &credentials;
    o.limits[kModel].tokens_per_minute = tpm;
    auto c = Client::Create(std::move(o));
    if (!c) {
      std::fprintf(stderr, "client: %s\n", c.error().message.c_str());
      return false;
    }
    client = std::move(*c);
    return true;
  }
};

quotaflow::emulator::EmulatorOptions FastEmulator(int64_t tpm, Duration ttft) {
  quotaflow::emulator::EmulatorOptions eo = quotaflow::emulator::ImmediateEmulator(20);
  eo.latency.time_to_first_token = ttft;
  quotaflow::emulator::QuotaOverride q;
  q.model = kModel;
  q.tokens_per_minute = tpm;
  eo.quotas.overrides.push_back(q);
  return eo;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t queued = 20'000;
  int64_t in_flight = 1'000;
  int64_t latency_ms = 2'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const int64_t value = std::strtoll(argv[i + 1], nullptr, 10);
    if (flag == "--queued") {
      queued = value;
    } else if (flag == "--in-flight") {
      in_flight = value;
    } else if (flag == "--latency-ms") {
      latency_ms = value;
    } else {
      std::fprintf(stderr, "usage: client_load [--queued N] [--in-flight N] [--latency-ms MS]\n");
      return 2;
    }
  }

  std::printf("%-10s %10s %14s %16s %12s %8s\n", "run", "requests", "submit/s", "bytes/queued",
              "peak flight", "threads");
  {
    // Each request reserves ~120 tokens; a TPM of queued × 120 × 6 admits a tenth per second, and
    // the limiter starts empty, so nearly all of them wait at first.
    const int64_t tpm = queued * 120 * 6;
    Run run;
    if (!run.Start(FastEmulator(tpm, Duration::zero()), tpm)) return 1;
    ModelRequest warm{.api = quotaflow::Api::kConverse,
                      .model_id = kModel,
                      .body = Body(0),
                      .max_tokens = 100,
                      .input_tokens = std::nullopt};
    (void)run.client->Call(warm);
    const int64_t rss_before = ProcStatus("VmRSS");
    std::atomic<int64_t> done{0};
    const auto t0 = SystemClock().Now();
    for (int64_t i = 0; i < queued; ++i) {
      ModelRequest r{.api = quotaflow::Api::kConverse,
                     .model_id = kModel,
                     .body = Body(static_cast<int>(i)),
                     .max_tokens = 100,
                     .input_tokens = std::nullopt};
      run.client->Submit(std::move(r), {}, [&done](const RequestResult&) { done.fetch_add(1); });
    }
    const double submit_s = ToSeconds(SystemClock().Now() - t0);
    const auto stats = run.client->Stats();
    const int64_t rss_after = ProcStatus("VmRSS");
    const int64_t waiting = stats.queue.total;
    const int64_t threads = ProcStatus("Threads");
    run.client->CancelQueued();
    run.client->WaitIdle();
    std::printf("%-10s %10lld %14.0f %16.0f %12s %8lld\n", "queue", static_cast<long long>(queued),
                static_cast<double>(queued) / submit_s,
                waiting > 0 ? 1024.0 * static_cast<double>(rss_after - rss_before) /
                                  static_cast<double>(waiting)
                            : 0.0,
                "-", static_cast<long long>(threads));
    std::printf("  (%lld of %lld still queued when measured; threads = emulator's + client's)\n",
                static_cast<long long>(waiting), static_cast<long long>(queued));
  }
  {
    Run run;
    if (!run.Start(FastEmulator(1'000'000'000, std::chrono::milliseconds(latency_ms)),
                   1'000'000'000))
      return 1;
    std::atomic<int64_t> done{0};
    for (int64_t i = 0; i < in_flight; ++i) {
      ModelRequest r{.api = quotaflow::Api::kConverse,
                     .model_id = kModel,
                     .body = Body(static_cast<int>(i)),
                     .max_tokens = 100,
                     .input_tokens = 30};
      run.client->Submit(std::move(r), {}, [&done](const RequestResult&) { done.fetch_add(1); });
    }
    int64_t peak = 0;
    int64_t threads = 0;
    while (done.load() < in_flight) {
      const auto stats = run.client->Stats();
      for (const auto& m : stats.models) peak = std::max(peak, m.in_flight);
      threads = std::max(threads, ProcStatus("Threads"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::printf("%-10s %10lld %14s %16s %12lld %8lld\n", "in flight",
                static_cast<long long>(in_flight), "-", "-", static_cast<long long>(peak),
                static_cast<long long>(threads));
  }
  return 0;
}
