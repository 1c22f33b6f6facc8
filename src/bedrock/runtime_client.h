#pragma once
// The bedrock-runtime client: Converse, ConverseStream, InvokeModel,
// InvokeModelWithResponseStream and CountTokens as asynchronous calls on an aws::HttpClient, every
// callback on the event loop thread, plus blocking forms for the CLI.
//
// Each call is signed (SigV4 with signing name `bedrock`, or a bearer token), sent, and retried on
// transient faults (5xx, connection failures, timeouts, ModelNotReady) by aws::RetryPolicy, the
// backoff waiting on an EventLoop timer, never a sleeping thread. Throttles are not retried: they
// come back at once with their ThrottleKind, for the engine to refund, cut its rate and requeue.
//
// What a failure cost matters to the engine: Bedrock charges a request once it has answered 200.
// CallError::response_started says so; a stream that breaks after its 200 (a cut connection, a
// mid-stream throttlingException, a truncated frame) is such a failure and is never retried here.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "aws/credentials_provider.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "aws/retry.h"
#include "bedrock/operations.h"
#include "bedrock/stream.h"
#include "quotaflow/accounting.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

struct RuntimeClientOptions {
  // "https://bedrock-runtime.us-east-1.amazonaws.com", or an emulator's http://127.0.0.1:port.
  std::string endpoint;
  std::string region = "us-east-1";  // the SigV4 signing region
  // Authorization, one of two: SigV4 with credentials from `credentials` (not owned; must outlive
  // the client), or `Authorization: Bearer` with `bearer_token` (a Bedrock API key). Exactly one
  // must be set.
  aws::CredentialsProvider* credentials = nullptr;
  std::string bearer_token;
  // The transport settings of every attempt: connect, read (idle) and total timeouts, HTTP
  // version, TLS trust, body limit. Default: aws::RequestOptions' (10 s connect, 60 s read; a long
  // non-streaming generation needs a longer read timeout). on_headers and on_data are the
  // client's own; values set here are ignored.
  aws::RequestOptions http;
  // Retries of transient faults. Default: standard mode (3 attempts, 1 s base, 20 s cap), and
  // throttles not retried, which is what the engine expects.
  aws::RetryOptions retry;
  // Seeds the backoff jitter, for reproducible tests. Default: std::random_device.
  std::optional<uint64_t> jitter_seed;
};

// A failed call.
struct CallError {
  Error error;
  // True when the failure came after an HTTP 200: Bedrock accepted, and charged, the request. The
  // engine must settle such a call (charge what was reserved, or `partial_usage`), not refund it.
  bool response_started = false;
  // Usage a stream reported before it broke (Anthropic's message_start input count, say), if any.
  std::optional<Usage> partial_usage;
  int attempts = 1;  // HTTP attempts made, retries included; 0 if nothing was sent
};

template <typename T>
using CallResult = tl::expected<T, CallError>;

struct CountTokensResponse {
  int64_t input_tokens = 0;
  std::string request_id;
};

namespace internal {
class Call;
struct ClientCore;
}  // namespace internal

// Cancels one call. Copyable; a default-constructed handle refers to no call.
// Thread safety: Cancel is safe from any thread.
class CallHandle {
 public:
  CallHandle() = default;
  // Completes the call with kCancelled (its callback runs on the loop thread) unless it has
  // completed already; stops a pending retry or the request in flight. A stream cancelled after
  // its 200 is reported with response_started = true.
  void Cancel() const;

 private:
  friend class RuntimeClient;
  explicit CallHandle(std::weak_ptr<internal::Call> call) : call_(std::move(call)) {}

  std::weak_ptr<internal::Call> call_;
};

// Thread safety: every method is safe from any thread; callbacks run on the loop thread (or, once
// the loop has stopped, on the calling thread before the method returns). The blocking (*Sync)
// methods must not be called on the loop thread.
class RuntimeClient {
 public:
  using ResponseCallback = std::function<void(CallResult<ModelResponse>)>;
  using CountTokensCallback = std::function<void(CallResult<CountTokensResponse>)>;
  // Each stream event as it arrives, on the loop thread, before the call's completion callback.
  using EventCallback = std::function<void(const StreamEvent&)>;

  // kInvalidArgument for options without exactly one kind of auth, or an endpoint that is not an
  // http(s) URL. REQUIRES: `loop` and `http` (on that loop) outlive the client.
  static Result<std::unique_ptr<RuntimeClient>> Create(aws::EventLoop& loop, aws::HttpClient& http,
                                                       RuntimeClientOptions options);

  RuntimeClient(const RuntimeClient&) = delete;
  RuntimeClient& operator=(const RuntimeClient&) = delete;
  // Completes every call still pending with kCancelled and returns once their callbacks have run.
  // REQUIRES: no call is started concurrently; not called from one of this client's callbacks.
  ~RuntimeClient();

  // Each call returns at once; `done` runs exactly once. Signing happens on the calling thread
  // (CredentialsProvider::GetCredentials may block there); a retry re-signs on the loop thread.
  CallHandle Converse(const ConverseRequest& request, ResponseCallback done);
  CallHandle ConverseStream(const ConverseRequest& request, EventCallback on_event,
                            ResponseCallback done);
  CallHandle InvokeModel(const InvokeModelRequest& request, ResponseCallback done);
  CallHandle InvokeModelWithResponseStream(const InvokeModelRequest& request,
                                           EventCallback on_event, ResponseCallback done);
  CallHandle CountTokens(const CountTokensRequest& request, CountTokensCallback done);

  // Blocking forms, for the CLI. REQUIRES: not on the loop thread, and the loop is running.
  CallResult<ModelResponse> ConverseSync(const ConverseRequest& request);
  CallResult<ModelResponse> ConverseStreamSync(const ConverseRequest& request,
                                               EventCallback on_event = nullptr);
  CallResult<ModelResponse> InvokeModelSync(const InvokeModelRequest& request);
  CallResult<ModelResponse> InvokeModelWithResponseStreamSync(const InvokeModelRequest& request,
                                                              EventCallback on_event = nullptr);
  CallResult<CountTokensResponse> CountTokensSync(const CountTokensRequest& request);

  const RuntimeClientOptions& options() const;

 private:
  explicit RuntimeClient(std::shared_ptr<internal::ClientCore> core);

  // Shared with every call, so that a call's late callbacks never touch a destroyed client.
  std::shared_ptr<internal::ClientCore> core_;
};

}  // namespace quotaflow::bedrock
