#include "bedrock/runtime_client.h"

#include <algorithm>
#include <future>
#include <mutex>
#include <random>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aws/errors.h"
#include "aws/request_signer.h"
#include "core/check.h"

namespace quotaflow::bedrock {
namespace {

// The signing name of bedrock-runtime (not "bedrock-runtime": bedrock-wire.md section 4).
constexpr std::string_view kSigningName = "bedrock";

// An error response body of a streaming call arrives through on_data; keep this much of it, which
// is far more than any Bedrock error message.
constexpr size_t kMaxErrorBody = size_t{64} * 1024;

// A call that got its final 2xx response.
struct Outcome {
  aws::HttpResponse response;  // status, headers and, for non-streaming calls, the body
  ModelResponse stream;        // streaming calls: the parser's final response
  int attempts = 1;
};

using FinishFn = std::function<void(CallResult<Outcome>)>;

tl::unexpected<CallError> Failure(Error error, int attempts, bool response_started = false,
                                  std::optional<Usage> partial_usage = std::nullopt) {
  CallError failure;
  failure.error = std::move(error);
  failure.response_started = response_started;
  failure.partial_usage = partial_usage;
  failure.attempts = attempts;
  return tl::unexpected(std::move(failure));
}

}  // namespace

namespace internal {

struct ClientCore {
  ClientCore(aws::EventLoop& event_loop, aws::HttpClient& http_client, RuntimeClientOptions opts)
      : loop(event_loop),
        http(http_client),
        options(std::move(opts)),
        retry(options.retry),
        rng(options.jitter_seed ? *options.jitter_seed : std::random_device()()) {}

  aws::EventLoop& loop;
  aws::HttpClient& http;
  const RuntimeClientOptions options;
  const aws::Signer signer;
  aws::RetryPolicy retry;
  std::mt19937_64 rng;  // loop thread only (retry decisions run in completion callbacks)

  std::mutex mu;
  bool shutting_down = false;                                  // guarded by mu
  std::unordered_map<const Call*, std::weak_ptr<Call>> calls;  // unfinished calls; guarded by mu
};

// One call, across its attempts. Constructed and begun on the caller's thread; from then on every
// member is touched only on the loop thread (or on the caller's, if the loop has stopped).
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<ClientCore> core, Operation op, aws::HttpRequest request,
       RuntimeClient::EventCallback on_event, FinishFn finish)
      : core_(std::move(core)),
        op_(op),
        request_(std::move(request)),
        on_event_(std::move(on_event)),
        finish_(std::move(finish)) {}

  ClientCore& core() const { return *core_; }

  // Caller's thread: registers the call, signs the first attempt and hands it to the loop.
  void Begin() {
    {
      std::lock_guard lock(core_->mu);
      core_->calls.emplace(this, weak_from_this());
    }
    aws::HttpRequest first = request_;
    auto self = shared_from_this();
    bool posted = false;
    if (Status signed_ok = Sign(first); signed_ok) {
      posted = core_->loop.Post(
          [self, first = std::move(first)]() mutable { self->Send(std::move(first)); });
    } else {
      posted =
          core_->loop.Post([self, error = signed_ok.error()] { self->Finish(Failure(error, 0)); });
    }
    if (!posted) {
      Finish(Failure(Error::Cancelled("event loop stopped before " +
                                      std::string(OperationName(op_)) + " was sent"),
                     0));
    }
  }

  // Loop thread: ends the call now with kCancelled, unless it has ended.
  void Cancel(const std::string& why) {
    if (done_) return;
    if (timer_ != 0) {
      core_->loop.Cancel(timer_);
      timer_ = 0;
    }
    handle_.Cancel();
    Finish(Failure(Error::Cancelled(std::string(OperationName(op_)) + ": " + why),
                   retry_state_.attempt, started_, PartialUsage()));
  }

 private:
  bool streaming() const { return IsStreaming(op_); }

  std::optional<Usage> PartialUsage() const {
    if (parser_ != nullptr && parser_->has_usage()) return parser_->partial().usage;
    return std::nullopt;
  }

  // Any thread. GetCredentials may block (a refresh); never with a lock of ours held.
  Status Sign(aws::HttpRequest& request) const {
    const RuntimeClientOptions& o = core_->options;
    if (!o.bearer_token.empty()) return aws::AuthorizeBearer(request, o.bearer_token);
    Result<aws::Credentials> credentials = o.credentials->GetCredentials();
    if (!credentials) return tl::unexpected(std::move(credentials.error()));
    return aws::SignHttpRequest(core_->signer, request, *credentials, o.region, kSigningName,
                                core_->loop.clock().WallNow());
  }

  // Loop thread: one attempt.
  void Send(aws::HttpRequest signed_request) {
    if (done_) return;
    started_ = false;
    parser_.reset();
    error_body_.clear();
    stream_error_.reset();
    aws::RequestOptions options = core_->options.http;
    auto self = shared_from_this();
    options.on_headers = [self](int status, const aws::HttpHeaders& headers) {
      self->OnHeaders(status, headers);
    };
    options.on_data = nullptr;
    if (streaming()) options.on_data = [self](std::string_view chunk) { self->OnData(chunk); };
    handle_ = core_->http.Send(
        std::move(signed_request), std::move(options),
        [self](Result<aws::HttpResponse> result) { self->OnComplete(std::move(result)); });
  }

  // Loop thread: a retry's timer fired.
  void Resend() {
    timer_ = 0;
    if (done_) return;
    aws::HttpRequest request = request_;
    if (Status signed_ok = Sign(request); !signed_ok) {
      Finish(Failure(signed_ok.error(), retry_state_.attempt));
      return;
    }
    Send(std::move(request));
  }

  void OnHeaders(int status, const aws::HttpHeaders& headers) {
    if (status < 200 || status >= 300) return;
    started_ = true;
    if (streaming()) {
      parser_ = std::make_unique<StreamParser>(
          op_ == Operation::kConverseStream ? StreamKind::kConverseStream
                                            : StreamKind::kInvokeModelWithResponseStream,
          std::string(aws::FindHeader(headers, "x-amzn-RequestId").value_or("")));
    }
  }

  void OnData(std::string_view chunk) {
    if (done_) return;
    if (parser_ == nullptr) {
      const size_t room = kMaxErrorBody - std::min(kMaxErrorBody, error_body_.size());
      error_body_.append(chunk.substr(0, room));
      return;
    }
    if (stream_error_) return;
    events_.clear();
    const Status fed = parser_->Feed(chunk, events_);
    for (const StreamEvent& event : events_) {
      if (on_event_ && !done_) on_event_(event);
    }
    if (!fed) {
      // The stream cannot go on (an exception frame, corruption): stop reading it.
      stream_error_ = fed.error();
      handle_.Cancel();
    }
  }

  void OnComplete(Result<aws::HttpResponse> result) {
    if (done_) return;
    if (stream_error_) return FailStarted(*stream_error_);
    if (!result) {
      if (started_) return FailStarted(result.error());
      aws::AwsError failure;
      failure.error = std::move(result.error());
      // aws::TransportError words a connect or read timeout this way; a retry after a timeout
      // costs more retry quota.
      failure.timed_out = failure.error.message.starts_with("timed out");
      return RetryOrFail(failure);
    }
    aws::HttpResponse& response = *result;
    if (response.status < 200 || response.status >= 300) {
      return RetryOrFail(aws::ParseRestJsonError(response.status, response.headers,
                                                 streaming() ? error_body_ : response.body));
    }
    core_->retry.OnSuccess(retry_state_);
    Outcome outcome;
    outcome.attempts = retry_state_.attempt;
    if (streaming()) {
      if (parser_ == nullptr) {
        return FailStarted(Error::Protocol("stream response without headers"));
      }
      Result<ModelResponse> final_response = parser_->Finish();
      if (!final_response) return FailStarted(final_response.error());
      outcome.stream = std::move(*final_response);
    }
    outcome.response = std::move(response);
    Finish(std::move(outcome));
  }

  void RetryOrFail(const aws::AwsError& failure) {
    const int attempt = retry_state_.attempt;
    const aws::RetryDecision decision = core_->retry.OnFailure(failure, retry_state_, core_->rng);
    bool shutting_down = false;
    {
      std::lock_guard lock(core_->mu);
      shutting_down = core_->shutting_down;
    }
    if (decision.retry && shutting_down) {
      // The destructor has taken its list of pending calls and ends them with kCancelled: a
      // call that would have waited to retry ends the same way, whichever comes first.
      Finish(Failure(Error::Cancelled(std::string(OperationName(op_)) +
                                      ": the runtime client shut down before a retry of: " +
                                      failure.error.message),
                     attempt));
      return;
    }
    if (decision.retry) {
      auto self = shared_from_this();
      timer_ =
          core_->loop.RunAt(core_->loop.clock().Now() + decision.delay, [self] { self->Resend(); });
      return;
    }
    Error error = failure.error;
    if (decision.reason == aws::RetryReason::kMaxAttempts ||
        decision.reason == aws::RetryReason::kQuotaExhausted) {
      error.message += " (gave up after " + std::to_string(attempt) +
                       " attempts: " + std::string(aws::RetryReasonName(decision.reason)) + ")";
    }
    Finish(Failure(std::move(error), attempt));
  }

  // The call failed after its 200: Bedrock has charged it, and it is never retried here.
  void FailStarted(Error cause) {
    cause.message = std::string(OperationName(op_)) +
                    " failed after HTTP 200 (Bedrock has charged the request): " + cause.message;
    Finish(
        Failure(std::move(cause), retry_state_.attempt, /*response_started=*/true, PartialUsage()));
  }

  void Finish(CallResult<Outcome> result) {
    if (done_) return;
    done_ = true;
    {
      std::lock_guard lock(core_->mu);
      core_->calls.erase(this);
    }
    FinishFn finish = std::move(finish_);
    on_event_ = nullptr;
    finish(std::move(result));
  }

  const std::shared_ptr<ClientCore> core_;
  const Operation op_;
  const aws::HttpRequest request_;  // unsigned; each attempt signs a copy with a fresh date
  RuntimeClient::EventCallback on_event_;
  FinishFn finish_;

  aws::RetryState retry_state_;
  aws::RequestHandle handle_;  // the attempt in flight
  aws::TimerId timer_ = 0;     // the pending retry, if any
  bool done_ = false;
  // The current attempt.
  bool started_ = false;  // a 2xx status arrived: Bedrock has accepted the request
  std::unique_ptr<StreamParser> parser_;
  std::vector<StreamEvent> events_;  // scratch for one chunk's events
  std::string error_body_;
  std::optional<Error> stream_error_;
};

}  // namespace internal

namespace {

using internal::Call;
using internal::ClientCore;

bool IsHttpUrl(std::string_view url) {
  auto starts = [&](std::string_view prefix) {
    if (url.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      // Every character of the prefixes has bit 0x20 set, so this folds only letters' case.
      if ((url[i] | 0x20) != prefix[i]) return false;
    }
    return true;
  };
  return starts("http://") || starts("https://");
}

std::shared_ptr<Call> Launch(const std::shared_ptr<ClientCore>& core, Operation op,
                             Result<aws::HttpRequest> request,
                             RuntimeClient::EventCallback on_event, FinishFn finish) {
  if (!request) {
    // Reported like any other failure: on the loop thread, or here if the loop has stopped.
    auto shared = std::make_shared<FinishFn>(std::move(finish));
    if (!core->loop.Post([shared, error = request.error()] { (*shared)(Failure(error, 0)); })) {
      (*shared)(Failure(std::move(request.error()), 0));
    }
    return nullptr;
  }
  auto call =
      std::make_shared<Call>(core, op, std::move(*request), std::move(on_event), std::move(finish));
  call->Begin();
  return call;
}

// Completion for calls whose 200 body still has to be parsed; a body that does not parse was
// nevertheless charged.
template <typename T, typename Parse>
FinishFn ParsingFinish(std::function<void(CallResult<T>)> done, Parse parse) {
  return [done = std::move(done), parse](CallResult<Outcome> result) {
    if (!result) return done(tl::unexpected(std::move(result.error())));
    Result<T> parsed = parse(*result);
    if (!parsed) {
      return done(Failure(std::move(parsed.error()), result->attempts,
                          /*response_started=*/true));
    }
    if constexpr (std::is_same_v<T, ModelResponse>) parsed->attempts = result->attempts;
    done(std::move(*parsed));
  };
}

template <typename T, typename StartFn>
CallResult<T> Wait(const ClientCore& core, StartFn start) {
  // The loop thread would wait for itself.
  QF_CHECK(!core.loop.IsLoopThread());
  std::promise<CallResult<T>> promise;
  std::future<CallResult<T>> future = promise.get_future();
  start([&promise](CallResult<T> result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace

void CallHandle::Cancel() const {
  std::shared_ptr<Call> call = call_.lock();
  if (call == nullptr) return;
  call->core().loop.Post([weak = call_] {
    if (std::shared_ptr<Call> c = weak.lock()) c->Cancel("cancelled by the caller");
  });
}

Result<std::unique_ptr<RuntimeClient>> RuntimeClient::Create(aws::EventLoop& loop,
                                                             aws::HttpClient& http,
                                                             RuntimeClientOptions options) {
  if ((options.credentials == nullptr) == options.bearer_token.empty()) {
    return tl::unexpected(Error::InvalidArgument(
        "Bedrock runtime client needs exactly one of SigV4 credentials or a bearer token"));
  }
  if (!IsHttpUrl(options.endpoint)) {
    return tl::unexpected(Error::InvalidArgument("Bedrock endpoint is not an http(s) URL: '" +
                                                 options.endpoint + "'"));
  }
  return std::unique_ptr<RuntimeClient>(
      new RuntimeClient(std::make_shared<ClientCore>(loop, http, std::move(options))));
}

RuntimeClient::RuntimeClient(std::shared_ptr<ClientCore> core) : core_(std::move(core)) {}

RuntimeClient::~RuntimeClient() {
  std::vector<std::shared_ptr<Call>> live;
  {
    std::lock_guard lock(core_->mu);
    core_->shutting_down = true;
    for (const auto& [key, weak] : core_->calls) {
      if (std::shared_ptr<Call> call = weak.lock()) live.push_back(std::move(call));
    }
  }
  if (live.empty()) return;
  auto cancel_all = [&live] {
    for (const std::shared_ptr<Call>& call : live) call->Cancel("the runtime client shut down");
  };
  if (core_->loop.IsLoopThread()) {
    cancel_all();
    return;
  }
  std::promise<void> done;
  if (core_->loop.Post([&] {
        cancel_all();
        done.set_value();
      })) {
    done.get_future().wait();
  } else {
    cancel_all();  // the loop has stopped: nothing else touches the calls
  }
}

const RuntimeClientOptions& RuntimeClient::options() const { return core_->options; }

CallHandle RuntimeClient::Converse(const ConverseRequest& request, ResponseCallback done) {
  return CallHandle(Launch(core_, Operation::kConverse,
                           BuildConverse(core_->options.endpoint, request), nullptr,
                           ParsingFinish<ModelResponse>(std::move(done), [](const Outcome& o) {
                             return ParseConverseResponse(o.response.headers, o.response.body);
                           })));
}

CallHandle RuntimeClient::InvokeModel(const InvokeModelRequest& request, ResponseCallback done) {
  return CallHandle(Launch(core_, Operation::kInvokeModel,
                           BuildInvokeModel(core_->options.endpoint, request), nullptr,
                           ParsingFinish<ModelResponse>(std::move(done), [](const Outcome& o) {
                             return ParseInvokeModelResponse(o.response.headers, o.response.body);
                           })));
}

CallHandle RuntimeClient::ConverseStream(const ConverseRequest& request, EventCallback on_event,
                                         ResponseCallback done) {
  return CallHandle(Launch(
      core_, Operation::kConverseStream, BuildConverseStream(core_->options.endpoint, request),
      std::move(on_event), ParsingFinish<ModelResponse>(std::move(done), [](const Outcome& o) {
        return Result<ModelResponse>(o.stream);
      })));
}

CallHandle RuntimeClient::InvokeModelWithResponseStream(const InvokeModelRequest& request,
                                                        EventCallback on_event,
                                                        ResponseCallback done) {
  return CallHandle(Launch(
      core_, Operation::kInvokeModelWithResponseStream,
      BuildInvokeModelWithResponseStream(core_->options.endpoint, request), std::move(on_event),
      ParsingFinish<ModelResponse>(
          std::move(done), [](const Outcome& o) { return Result<ModelResponse>(o.stream); })));
}

CallHandle RuntimeClient::CountTokens(const CountTokensRequest& request, CountTokensCallback done) {
  return CallHandle(Launch(
      core_, Operation::kCountTokens, BuildCountTokens(core_->options.endpoint, request), nullptr,
      ParsingFinish<CountTokensResponse>(
          std::move(done), [](const Outcome& o) -> Result<CountTokensResponse> {
            Result<int64_t> tokens = ParseCountTokensResponse(o.response.body);
            if (!tokens) return tl::unexpected(std::move(tokens.error()));
            return CountTokensResponse{
                .input_tokens = *tokens,
                .request_id = std::string(
                    aws::FindHeader(o.response.headers, "x-amzn-RequestId").value_or(""))};
          })));
}

CallResult<ModelResponse> RuntimeClient::ConverseSync(const ConverseRequest& request) {
  return Wait<ModelResponse>(*core_,
                             [&](ResponseCallback done) { Converse(request, std::move(done)); });
}

CallResult<ModelResponse> RuntimeClient::ConverseStreamSync(const ConverseRequest& request,
                                                            EventCallback on_event) {
  return Wait<ModelResponse>(*core_, [&](ResponseCallback done) {
    ConverseStream(request, std::move(on_event), std::move(done));
  });
}

CallResult<ModelResponse> RuntimeClient::InvokeModelSync(const InvokeModelRequest& request) {
  return Wait<ModelResponse>(*core_,
                             [&](ResponseCallback done) { InvokeModel(request, std::move(done)); });
}

CallResult<ModelResponse> RuntimeClient::InvokeModelWithResponseStreamSync(
    const InvokeModelRequest& request, EventCallback on_event) {
  return Wait<ModelResponse>(*core_, [&](ResponseCallback done) {
    InvokeModelWithResponseStream(request, std::move(on_event), std::move(done));
  });
}

CallResult<CountTokensResponse> RuntimeClient::CountTokensSync(const CountTokensRequest& request) {
  return Wait<CountTokensResponse>(
      *core_, [&](CountTokensCallback done) { CountTokens(request, std::move(done)); });
}

}  // namespace quotaflow::bedrock
