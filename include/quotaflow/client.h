#pragma once
// quotaflow::Client: submit Bedrock requests, get results; the client waits instead of being
// throttled. One event-loop thread carries every request: the scheduler queues them by priority
// with deadlines, each model's limiter reserves `input + max_tokens` as Bedrock does, the runtime
// client sends, and the reservation settles from the usage the response reports.
//
// What the engine does with each outcome (ARCHITECTURE.md, "One request, end to end"):
//   success            settle to input + cache_write + output × burndown; calibrate the estimator
//   rate throttle      refund, adaptive cut, back to the head of its class (until it has been
//                      throttled for `throttle_patience_periods`, then fail with kThrottled)
//   tokens-per-day     refund, pause the model until the day's quota frees, requeue; warn once
//   5xx / timeout      the runtime client retries with backoff; if it gives up, refund and requeue
//                      after a backoff, within `max_transient_requeues`
//   ModelNotReady      as a 5xx: retried with backoff, no rate cut
//   validation / auth  refund, fail at once with the server's message
//   broken stream      the server answered 200 and counted it: settle the full reservation, fail
//                      with `charged` set so the caller may resubmit
//
// Thread safety: every public method is safe from any thread except the blocking ones (Call,
// Limits for a model not yet prepared), which must not run on the client's own callback thread.
// Callbacks run on the loop thread: keep them short.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quotaflow/accounting.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"
#include "quotaflow/limiter.h"
#include "quotaflow/routes.h"
#include "quotaflow/scheduler.h"

namespace quotaflow {

namespace aws {
class CredentialsProvider;
}
namespace bedrock {
struct ModelInfo;
class InferenceProfilesClient;
class ServiceQuotasClient;
class ModelCatalog;
}  // namespace bedrock

// One model's quotas as the client enforces them (before `quota_share`). 0 = not enforced.
struct ModelLimits {
  int64_t requests_per_minute = 0;
  int64_t tokens_per_minute = 0;
  int64_t tokens_per_day = 0;
  int64_t max_concurrency = 0;
  // "config", "service-quotas" or "default".
  std::string source;
  // Why the values are what they are when not from config: the quota names matched, or the
  // warning that conservative defaults are in use.
  std::string note;
};

struct ClientOptions {
  // The bedrock-runtime endpoint: "https://bedrock-runtime.us-east-1.amazonaws.com" or an
  // emulator's "http://127.0.0.1:PORT". Required.
  std::string endpoint;
  std::string region = "us-east-1";
  // Exactly one of: SigV4 credentials (not owned, must outlive the client) or a Bedrock API key.
  aws::CredentialsProvider* credentials = nullptr;
  std::string bearer_token;

  // Limits per model id, in order of precedence: `limits` (explicit config), discovery through
  // `service_quotas` (not owned; may be null), then `default_limits` with a warning.
  std::map<std::string, ModelLimits, std::less<>> limits;
  bedrock::ServiceQuotasClient* service_quotas = nullptr;
  // Resolves application-inference-profile ARNs (GetInferenceProfile) to the model they serve,
  // whose catalog entry and quotas they use; the ARN is still what is sent. Not owned; may be
  // null (then such an ARN is an unknown model).
  bedrock::InferenceProfilesClient* inference_profiles = nullptr;
  // Conservative defaults: a tenth of what Bedrock grants new accounts on demand.
  ModelLimits default_limits{.requests_per_minute = 0,
                             .tokens_per_minute = 40'000,
                             .tokens_per_day = 0,
                             .max_concurrency = 16,
                             .source = "default",
                             .note = ""};
  // Service Quotas and inference profiles (GetInferenceProfile: application-profile ARNs,
  // profiles' destination regions for residency rules) for targets in other regions than
  // `region` (routes). Either may be empty or return null for a region it cannot reach; called
  // one at a time, from the thread creating a route.
  std::function<bedrock::ServiceQuotasClient*(const std::string& region)> service_quotas_for;
  std::function<bedrock::InferenceProfilesClient*(const std::string& region)>
      inference_profiles_for;
  // Logical model names served by several targets (routes.h). A request naming a route is placed
  // on whichever allowed target can start it soonest; any other name is a route of one target
  // in `region`.
  RouteConfig routes;
  // A target whose requests fail (5xx, transport) this many times in a row is cooled down: no
  // request starts there for `cool_down` (doubling while it keeps failing, up to
  // `max_cool_down`), then a single probe request tests it before the rest follow.
  int failures_to_cool_down = 3;
  Duration cool_down = std::chrono::seconds(2);
  Duration max_cool_down = std::chrono::minutes(1);
  // Use only this fraction of each quota (0, 1]: the rest is left to other applications that
  // draw on the same account quota.
  double quota_share = 1.0;
  // The quota period: Bedrock's minute; tests and the emulator's short periods use less.
  Duration period = std::chrono::minutes(1);
  // Limiter settings other than the limits and period (burst, window guard, adaptive cut).
  LimiterConfig limiter;
  SchedulerConfig scheduler;

  // A rate-throttled request goes back to the head of its class until this many periods have
  // passed since its first throttle; a throttle after that fails it with kThrottled. A budget of
  // time, not of tries: while another application holds the server's window (a restart into a
  // busy minute), retries come fast and many, and the window frees within a period.
  double throttle_patience_periods = 5.0;
  // A transient failure the runtime client gave up on is requeued at most this many times, after
  // `transient_backoff` × 2^n.
  int max_transient_requeues = 3;
  Duration transient_backoff = std::chrono::seconds(1);
  // Before that, the runtime client retries a 5xx or a broken connection in place: `attempts` in
  // all (1 = no retry), "full jitter" backoff rand[0,1) × min(base × 2^(n-1), max) between them,
  // as the AWS SDKs' standard mode. A target with others to fail over to makes one attempt.
  int attempts = 3;
  Duration retry_base_backoff = std::chrono::seconds(1);
  Duration retry_max_backoff = std::chrono::seconds(20);
  // HTTP read timeout per attempt (a long non-streaming generation needs minutes).
  Duration read_timeout = std::chrono::minutes(5);
  // Seeds the runtime client's backoff jitter (tests); empty = random.
  std::optional<uint64_t> jitter_seed;
  // Where warnings go (defaults in use, tokens-per-day pause). Default: stderr.
  std::function<void(const std::string&)> warn;
  // Timers and statistics. Not owned; must outlive the client. Default: the system clock.
  Clock* clock = nullptr;
  // The model catalog (context windows, output maxima, burndown). Default: the embedded one.
  const bedrock::ModelCatalog* catalog = nullptr;
};

enum class Api : uint8_t {
  kConverse,        // body: a Converse request without modelId
  kConverseStream,  // same body; the result settles on the stream's metadata event
  kInvokeModel,     // body: the model family's native JSON
  kInvokeModelStream,
};

struct ModelRequest {
  Api api = Api::kConverse;
  std::string model_id;
  std::string body;
  // The max_tokens the body sets; empty = read it from the body (the model maximum when the body
  // sets none, which is what Bedrock reserves then).
  std::optional<int64_t> max_tokens;
  // The input tokens to reserve; empty = estimate them from the body.
  std::optional<int64_t> input_tokens;
};

struct SubmitOptions {
  int priority = kPriorityNormal;
  SteadyTime deadline = SteadyTime::max();
  uint64_t tag = 0;  // handed back in the result
  // A class of RouteConfig::classes (its residency rule) and of the targets' `classes`; empty =
  // any target.
  std::string request_class;
};

struct ModelResult {
  uint64_t tag = 0;
  std::string target;  // "region/model id" of the target that served it
  std::string text;
  Usage usage;
  int64_t settled_tokens = 0;  // what the request cost against TPM
  std::string stop_reason;
  std::string request_id;
  int priority = 0;
  Duration waited{};  // in the queue, before the (last) start
  SteadyTime started{};
  SteadyTime finished{};
  int throttles = 0;  // 429s this request met and was requeued after
  int attempts = 0;   // HTTP attempts, retries included
};

struct RequestFailure {
  uint64_t tag = 0;
  Error error;
  std::string target;  // the target of the last attempt; empty if none started
  // The server answered 200 and counted the request before it failed (a broken stream): the
  // reservation was charged in full. Resubmitting costs quota again.
  bool charged = false;
  int throttles = 0;
  int attempts = 0;
};

using RequestResult = tl::expected<ModelResult, RequestFailure>;
using ResultCallback = std::function<void(RequestResult)>;

using RequestId = uint64_t;

// A target's picture (a model in a region), for progress lines and the summary.
struct ModelStats {
  std::string model_id;  // the target's key, "region/model id"
  std::string region;
  ModelLimits limits;     // as configured, before quota_share
  LimiterStats limiter;   // utilization over the last period, blocked_by, rate factor
  int64_t completed = 0;  // succeeded
  int64_t failed = 0;
  int64_t throttles = 0;       // 429s received (rate and daily)
  int64_t errors = 0;          // transient failures (5xx, transport) of requests started here
  bool cooling = false;        // cooled down after repeated failures
  int64_t requests_sent = 0;   // starts granted by the limiter
  int64_t tokens_settled = 0;  // sum of settled charges
  Usage usage;                 // summed
  int64_t in_flight = 0;
};

// A logical model name's queue (a route, or a model named directly).
struct RouteStats {
  std::string name;
  int64_t queued = 0;         // waiting in the scheduler
  int64_t queued_tokens = 0;  // reservation cost of what waits
  // When the queue would have drained at its targets' pace, and the dimension that takes longest.
  SteadyTime drain_eta{};
  Dimension bottleneck = Dimension::kNone;
};

struct ClientStats {
  std::vector<ModelStats> models;  // per target
  std::vector<RouteStats> routes;
  SchedulerStats scheduler;  // wait histograms by priority, expired, rejected
  QueueStatus queue;
};

class Client {
 public:
  // kInvalidArgument for options without exactly one kind of auth, a bad endpoint, or a
  // quota_share outside (0, 1]. Starts the loop thread.
  static Result<std::unique_ptr<Client>> Create(ClientOptions options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Fails what is queued with kCancelled, cancels what is in flight, and stops the loop.
  ~Client();

  // The limits the client enforces for `model_id`, resolving them (Service Quotas discovery may
  // block) on first use; for a route, the sum over its targets. kNotFound for a model the catalog
  // does not know.
  Result<ModelLimits> Limits(const std::string& model_id);

  // The catalog entry `model_id` resolves to (an application profile: what it copies; a route:
  // its first target). Resolves the limits too, as Limits does.
  Result<const bedrock::ModelInfo*> Model(const std::string& model_id);

  // Queues a request; `done` runs exactly once, on the loop thread. Fails through `done` (never
  // throws): an unknown model, a request larger than a period's quota, a deadline that cannot be
  // met. The model's limits are resolved first if they were not.
  RequestId Submit(ModelRequest request, const SubmitOptions& options, ResultCallback done);
  // Submit and wait. REQUIRES: not on the loop thread.
  RequestResult Call(ModelRequest request, const SubmitOptions& options = {});

  // Fails a queued request with kCancelled; false when it has already started or finished.
  bool Cancel(RequestId id);
  // Fails every queued request with kCancelled: nothing new starts; what is in flight finishes.
  void CancelQueued();
  // Blocks until nothing is queued or in flight, or `timeout` passes; true when idle.
  bool WaitIdle(Duration timeout = Duration::max());

  // When a new request of this cost and priority would start, given the queue ahead of it.
  Result<Decision> EstimateStart(const std::string& model_id, const Cost& cost, int priority);
  // Reservation cost of a request, as Submit would compute it (for estimates and dry runs).
  Result<Cost> CostOf(const ModelRequest& request);
  // The input tokens Bedrock counts for a Converse body (CountTokens: not charged against any
  // quota), asked of the foundation model a profile or route serves, as CountTokens requires.
  // Bedrock counts for a few Claude models only (data/models.json `count_tokens`) and answers
  // ValidationException for the rest: estimate then. The client remembers that answer and gives it
  // again without asking. Blocks; REQUIRES: not on the loop thread.
  Result<int64_t> CountTokens(const std::string& model_id, const std::string& converse_body);

  ClientStats Stats() const;
  const ClientOptions& options() const;

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quotaflow
