#pragma once
// Tests only. Scaffolding shared by the control-plane client tests (service_quotas_client_test,
// cloudwatch_client_test, quota_match_test): an event loop with its HttpClient, an in-process
// Emulator on port 0 with the latency model off, client options pointing at it with the
// emulator's default credentials, and a scripted in-process server that records what it got
// (which the engine and CLI tests use too, for answers the emulator does not give).
//
// Not thread-safe beyond what each member says: one fixture per test.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "aws/credentials_provider.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/aws_json_client.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "server/http_server.h"

namespace quotaflow::bedrock::control_test {

// An HTTP server that answers requests with a script (the last response repeats once the script
// runs out) and keeps every request it got.
// Thread safety: the handler runs on the server's I/O thread; the accessors lock.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<server::ServerResponse> script)
      : script_(std::move(script)),
        server_(server::HttpServer::Options{},
                [this](server::ServerRequest request, const server::Responder& responder) {
                  server::ServerResponse response;
                  {
                    std::lock_guard lock(mu_);
                    requests_.push_back(std::move(request));
                    response = script_[std::min(next_, script_.size() - 1)];
                    ++next_;
                  }
                  responder.Respond(std::move(response));
                }) {}

  // A test failure when the server cannot start.
  void Start() {
    Status started = server_.Start();
    ASSERT_TRUE(started) << started.error().message;
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

  std::vector<server::ServerRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  const std::vector<server::ServerResponse> script_;
  mutable std::mutex mu_;
  size_t next_ = 0;                              // guarded by mu_
  std::vector<server::ServerRequest> requests_;  // guarded by mu_
  server::HttpServer server_;                    // last: stops before the members above go
};

// A JSON response as an awsJson service sends it.
inline server::ServerResponse JsonAnswer(int status, std::string body,
                                         std::string content_type = "application/x-amz-json-1.1") {
  server::ServerResponse response;
  response.status = status;
  response.headers = {{"Content-Type", std::move(content_type)},
                      {"x-amzn-RequestId", "req-" + std::to_string(status)}};
  response.body = std::move(body);
  return response;
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.Start();
    http_ = std::make_unique<aws::HttpClient>(loop_);
  }

  void TearDown() override {
    // Servers stop first, while the client's loop still runs to see its connections close.
    emulator_.reset();
    scripted_.reset();
    http_.reset();
    loop_.Stop();
  }

  // Quick answers: no latency, fixed output length, a window that never refills mid-test.
  static emulator::EmulatorOptions FastOptions() {
    emulator::EmulatorOptions options = emulator::ImmediateEmulator(40);
    options.quotas.books.mode = emulator::CountingMode::kFixedWindow;
    options.quotas.books.period = std::chrono::hours(1);
    return options;
  }

  void StartEmulator(emulator::EmulatorOptions options = FastOptions()) {
    emulator_ = std::make_unique<emulator::Emulator>(std::move(options));
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
  }

  void StartScripted(std::vector<server::ServerResponse> script) {
    scripted_ = std::make_unique<ScriptedServer>(std::move(script));
    scripted_->Start();
  }

  // Options for a client of `endpoint` (default: the emulator's) that records its backoffs in
  // sleeps_ instead of sleeping.
  ControlPlaneOptions ClientOptions(std::string endpoint = {}) {
    ControlPlaneOptions options;
    options.endpoint = endpoint.empty() ? emulator_->endpoint() : std::move(endpoint);
    options.region = "us-east-1";
    options.credentials = &default_credentials_;
    options.http.version = aws::HttpVersionPolicy::kHttp1_1;
    options.jitter_seed = 7;
    options.sleep = [this](Duration d) { sleeps_.push_back(d); };
    return options;
  }

  aws::EventLoop loop_{SystemClock()};
  aws::StaticCredentialsProvider default_credentials_{
      aws::Credentials{emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""}};
  std::unique_ptr<aws::HttpClient> http_;
  std::unique_ptr<emulator::Emulator> emulator_;
  std::unique_ptr<ScriptedServer> scripted_;
  std::vector<Duration> sleeps_;  // backoffs the clients asked for; test thread only
};

}  // namespace quotaflow::bedrock::control_test
