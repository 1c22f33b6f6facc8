#include "throughput_strategies.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "aws/credentials_provider.h"
#include "aws/errors.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "aws/retry.h"
#include "bedrock/runtime_client.h"
#include "emulator/emulator.h"
#include "emulator/runtime_api.h"
#include "emulator/text_generator.h"
#include "quotaflow/accounting.h"
#include "quotaflow/client.h"
#include "sdk_adaptive.h"

namespace quotaflow::bench {
namespace {

namespace json = boost::json;
using State = DocOutcome::State;

aws::Credentials EmulatorCredentials() {
  return aws::Credentials{emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""};
}

bool IsRateThrottle(const Error& e) {
  return e.code == ErrorCode::kThrottled && e.throttle != ThrottleKind::kModelNotReady;
}

// The emulator's counters for one key, from its state JSON.
void ReadServerCounters(const emulator::Emulator& emu, const std::string& key, RunResult& out) {
  boost::system::error_code ec;
  const json::value state = json::parse(emu.StateJson(), ec);
  if (ec || !state.is_object()) return;
  const json::value* keys = state.as_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return;
  for (const json::value& k : keys->as_array()) {
    if (!k.is_object()) continue;
    const json::object& o = k.as_object();
    const json::value* name = o.if_contains("key");
    if (name == nullptr || !name->is_string() || name->as_string() != key) continue;
    const json::value* counters = o.if_contains("counters");
    if (counters == nullptr || !counters->is_object()) return;
    auto get = [&counters](const char* field) -> int64_t {
      const json::value* v = counters->as_object().if_contains(field);
      return v != nullptr && v->is_int64() ? v->as_int64() : 0;
    };
    out.server_admitted = get("admitted");
    out.server_throttled = get("throttled");
    out.server_settled_tokens = get("settled_tokens");
    return;
  }
}

// Signals the waiting thread once every document is finished.
class Completion {
 public:
  explicit Completion(size_t total) : remaining_(total) {}
  void Done() {
    std::lock_guard lock(mu_);
    if (remaining_ > 0 && --remaining_ == 0) cv_.notify_all();
  }
  // True when everything finished before `deadline`.
  bool WaitUntil(SteadyTime deadline) {
    std::unique_lock lock(mu_);
    const auto real_deadline = std::chrono::steady_clock::time_point(deadline.time_since_epoch());
    return cv_.wait_until(lock, real_deadline, [this] { return remaining_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t remaining_;  // guarded by mu_
};

// One event loop with an HTTP client and a runtime client whose own retries are off.
struct Transport {
  explicit Transport(const std::string& endpoint) : loop(SystemClock()) {
    loop.Start();
    http = std::make_unique<aws::HttpClient>(loop);
    bedrock::RuntimeClientOptions ro;
    ro.endpoint = endpoint;
    ro.credentials = &credentials;
    ro.retry.max_attempts = 1;  // every attempt goes through the strategy's pacing
    ro.http.read_timeout = std::chrono::minutes(2);
    auto created = bedrock::RuntimeClient::Create(loop, *http, std::move(ro));
    if (created) runtime = std::move(*created);
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport() { Shutdown(); }

  // Completes what is in flight with kCancelled, then stops the loop; armed timers are dropped.
  // Callbacks run meanwhile, so their owner calls this before its own members go away.
  // Idempotent.
  void Shutdown() {
    runtime.reset();
    http.reset();
    loop.Stop();
  }

  aws::StaticCredentialsProvider credentials{EmulatorCredentials()};
  aws::EventLoop loop;
  std::unique_ptr<aws::HttpClient> http;
  std::unique_ptr<bedrock::RuntimeClient> runtime;
};

// ---- The other application of the "competing" scenario ----

// Sends steadily, open loop, at `share` of the TPM quota in expected settled tokens; never
// retries. Its own documents, ~2,000 tokens in and max_tokens 500.
class Competitor {
 public:
  Competitor(const Scenario& scenario, const TimeScale& scale, const std::string& endpoint,
             uint64_t seed)
      : scenario_(scenario), transport_(endpoint) {
    for (uint64_t i = 0; i < 16; ++i) {
      std::string text = "Classify this support ticket.\n\n" +
                         emulator::GenerateText(emulator::MixSeed(seed ^ 0xc0ffeeULL, i), 2'000);
      json::object body{
          {"messages", json::array{json::object{
                           {"role", "user"},
                           {"content", json::array{json::object{{"text", std::move(text)}}}}}}},
          {"inferenceConfig", json::object{{"maxTokens", 500}}}};
      bodies_.push_back(json::serialize(body));
    }
    const double per_request = scenario.ExpectedSettled(2'000, 500);
    const double tokens_per_second =
        scenario.competitor_share * static_cast<double>(scenario.tpm) / ToSeconds(scale.period());
    interval_ = Duration(static_cast<Duration::rep>(per_request / tokens_per_second * 1e9));
  }

  void Start(SteadyTime measure_from) {
    measure_from_ = measure_from;
    transport_.loop.Post([this] { Tick(); });
  }

  Competitor(const Competitor&) = delete;
  Competitor& operator=(const Competitor&) = delete;
  ~Competitor() {
    stopping_.store(true);
    transport_.Shutdown();
  }

  // Stops sending, waits (a little) for what is in flight, and counts the settled tokens of the
  // requests sent within [measure_from, measure_to].
  CompetitorStats Stop(SteadyTime measure_to) {
    stopping_.store(true);
    const SteadyTime until = SystemClock().Now() + std::chrono::seconds(10);
    while (in_flight_.load() > 0 && SystemClock().Now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu_);
    CompetitorStats stats = stats_;
    for (const auto& [sent, tokens] : settled_) {
      if (sent >= measure_from_ && sent <= measure_to) stats.settled_tokens += tokens;
    }
    return stats;
  }

 private:
  void Tick() {
    if (stopping_.load()) return;
    const SteadyTime now = SystemClock().Now();
    const size_t i = next_++ % bodies_.size();
    in_flight_.fetch_add(1);
    bedrock::ConverseRequest r{.model_id = scenario_.model_id, .body = bodies_[i]};
    transport_.runtime->Converse(r, [this, now](bedrock::CallResult<bedrock::ModelResponse> res) {
      std::lock_guard lock(mu_);
      ++stats_.sent;
      if (res) {
        ++stats_.succeeded;
        settled_.emplace_back(now, SettledTokens(res->usage, scenario_.burndown));
      } else if (IsRateThrottle(res.error().error)) {
        ++stats_.throttled;
      }
      in_flight_.fetch_sub(1);
    });
    transport_.loop.RunAt(now + interval_, [this] { Tick(); });
  }

  const Scenario& scenario_;
  Transport transport_;
  std::vector<std::string> bodies_;
  Duration interval_{};
  size_t next_ = 0;            // loop thread only
  SteadyTime measure_from_{};  // set before the first Tick
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
  std::mutex mu_;
  CompetitorStats stats_;                                // guarded by mu_
  std::vector<std::pair<SteadyTime, int64_t>> settled_;  // send time, settled; guarded by mu_
};

// ---- The warm start ----

// --warm-start: spends the server's first period of quota (TPM, and RPM where enforced) just
// before the run, as another client (or this one before a restart) would have: an emptied token
// bucket, a full window that only empties a period later. Requests of up to 50,000 input tokens
// with max_tokens 1, plus tiny ones where the RPM quota needs more requests than that; all must be
// admitted. Returns an error message, or empty.
std::string SpendFirstPeriod(const Scenario& scenario, const std::string& endpoint, uint64_t seed) {
  constexpr int64_t kChunk = 50'000;
  constexpr int64_t kTinyReserve = 16;  // a tiny request's prompt + max_tokens, rounded up
  const int64_t big = (scenario.tpm + kChunk - 1) / kChunk;
  const int64_t tiny = scenario.rpm > big ? scenario.rpm - big : 0;
  // Each big request reserves input + 1; leave 1% of the quota unspent for rounding.
  const int64_t budget = scenario.tpm - scenario.tpm / 100 - tiny * kTinyReserve;
  const int64_t input = budget / big - 1;
  std::vector<std::string> bodies;
  auto body_of = [](std::string text) {
    json::object body{
        {"messages",
         json::array{json::object{
             {"role", "user"}, {"content", json::array{json::object{{"text", std::move(text)}}}}}}},
        {"inferenceConfig", json::object{{"maxTokens", 1}}}};
    return json::serialize(body);
  };
  // GenerateText counts exactly; the emulator counts the prompt the same way.
  for (int64_t i = 0; i < big; ++i) {
    bodies.push_back(body_of(emulator::GenerateText(
        emulator::MixSeed(seed ^ 0xf111ULL, static_cast<uint64_t>(i)), input)));
  }
  for (int64_t i = 0; i < tiny; ++i) bodies.push_back(body_of("Hi."));
  Transport transport(endpoint);
  if (transport.runtime == nullptr) return "runtime client could not be created";
  std::mutex mu;
  std::condition_variable cv;
  size_t remaining = bodies.size();
  std::string error;
  for (const std::string& b : bodies) {
    bedrock::ConverseRequest r{.model_id = scenario.model_id, .body = b};
    transport.runtime->Converse(r, [&](const bedrock::CallResult<bedrock::ModelResponse>& res) {
      std::lock_guard lock(mu);
      if (!res && error.empty()) error = "warm start: " + res.error().error.ToString();
      if (--remaining == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&remaining] { return remaining == 0; });
  return error;
}

// ---- Strategies 1-4: a worker pool on the runtime client ----

struct Job {
  size_t doc = 0;
  int backoff_attempt = 0;  // strategies 1-3: failed attempts so far
  aws::RetryState retry;    // strategy 4: the SDK call in progress
};

struct Permit {
  enum class Verdict : uint8_t { kGo, kWait, kNever };
  Verdict verdict = Verdict::kGo;
  SteadyTime at{};             // kWait: ask again then
  int64_t charged_tokens = 0;  // kGo: what the pacer's own books took
};

class Pacer {
 public:
  virtual ~Pacer() = default;
  // May this attempt of `doc` go now? A kGo is charged to the pacer's books.
  virtual Permit Ask(const Document& doc, SteadyTime now) = 0;
  // Every attempt's outcome: success (error null), throttle, 5xx.
  virtual void OnResponse(const Error* error, SteadyTime now) {
    (void)error;
    (void)now;
  }
  // A throttled or failed attempt: how long until the document is tried again.
  virtual Duration RetryDelay(const Error& error, Job& job, SteadyTime now) = 0;
  virtual void OnSuccess(Job& job) { (void)job; }
  // Whether each response wakes the longest-waiting worker to ask again before its time, as
  // botocore's TokenBucket does (its max_rate setter notifies its condition variable, which wakes
  // waiters in FIFO order), instead of every waiter sleeping until the time it was told.
  virtual bool NotifiesWaiterOnResponse() const { return false; }
};

// Full-jitter exponential backoff, no attempt limit (strategies 1-3).
class BackoffRetries {
 public:
  BackoffRetries(const TimeScale& scale, uint64_t seed) : rng_(seed) {
    options_.base_backoff = scale.Real(1);
    options_.max_backoff = scale.Real(20);
  }
  Duration Next(Job& job) { return aws::Backoff(options_, ++job.backoff_attempt, rng_); }

 private:
  aws::RetryOptions options_;
  std::mt19937_64 rng_;
};

class NoLimiterPacer final : public Pacer {
 public:
  NoLimiterPacer(const TimeScale& scale, uint64_t seed) : retries_(scale, seed) {}
  Permit Ask(const Document&, SteadyTime) override { return {}; }
  Duration RetryDelay(const Error&, Job& job, SteadyTime) override { return retries_.Next(job); }

 private:
  BackoffRetries retries_;
};

class RpmCounterPacer final : public Pacer {
 public:
  RpmCounterPacer(int64_t per_minute, const TimeScale& scale, uint64_t seed)
      : per_minute_(per_minute), minute_(scale.period()), retries_(scale, seed) {}

  Permit Ask(const Document&, SteadyTime now) override {
    if (!open_ || now >= window_start_ + minute_) {
      open_ = true;
      window_start_ = now;
      count_ = 0;
    }
    if (count_ < per_minute_) {
      ++count_;
      return {};
    }
    return {.verdict = Permit::Verdict::kWait, .at = window_start_ + minute_, .charged_tokens = 0};
  }
  Duration RetryDelay(const Error&, Job& job, SteadyTime) override { return retries_.Next(job); }

 private:
  const int64_t per_minute_;
  const Duration minute_;
  BackoffRetries retries_;
  bool open_ = false;
  SteadyTime window_start_{};
  int64_t count_ = 0;
};

// A continuously refilled bucket in doubles (the tutorial's arithmetic).
class SimpleBucket {
 public:
  SimpleBucket(double capacity, double per_second, SteadyTime now)
      : capacity_(capacity), per_second_(per_second), level_(capacity), last_(now) {}
  void Refill(SteadyTime now) {
    level_ = std::min(capacity_, level_ + ToSeconds(now - last_) * per_second_);
    last_ = now;
  }
  // Seconds until `amount` is there (0 if it is).
  double WaitFor(double amount) const {
    return amount <= level_ ? 0 : (amount - level_) / per_second_;
  }
  void Take(double amount) { level_ -= amount; }
  double capacity() const { return capacity_; }

 private:
  double capacity_;
  double per_second_;
  double level_;
  SteadyTime last_;
};

class DualBucketPacer final : public Pacer {
 public:
  static constexpr double kBurstSeconds = 1.5;  // Bedrock seconds of quota

  DualBucketPacer(const Scenario& scenario, const TimeScale& scale, uint64_t seed, SteadyTime now)
      : tokens_(static_cast<double>(scenario.tpm) * kBurstSeconds / 60.0,
                static_cast<double>(scenario.tpm) / ToSeconds(scale.period()), now),
        requests_(static_cast<double>(scenario.rpm) * kBurstSeconds / 60.0,
                  static_cast<double>(scenario.rpm) / ToSeconds(scale.period()), now),
        use_requests_(scenario.rpm > 0),
        retries_(scale, seed) {}

  Permit Ask(const Document& doc, SteadyTime now) override {
    // The tutorial's estimate: four characters per token, plus the whole max_tokens.
    const int64_t cost = (doc.text_chars + 3) / 4 + doc.max_tokens;
    if (static_cast<double>(cost) > tokens_.capacity() ||
        (use_requests_ && requests_.capacity() < 1)) {
      return {.verdict = Permit::Verdict::kNever, .at = {}, .charged_tokens = 0};
    }
    tokens_.Refill(now);
    requests_.Refill(now);
    const double wait = std::max(tokens_.WaitFor(static_cast<double>(cost)),
                                 use_requests_ ? requests_.WaitFor(1) : 0.0);
    if (wait > 0) {
      return {.verdict = Permit::Verdict::kWait,
              .at = now + Duration(static_cast<Duration::rep>(wait * 1e9) + 1),
              .charged_tokens = 0};
    }
    tokens_.Take(static_cast<double>(cost));
    if (use_requests_) requests_.Take(1);
    return {.verdict = Permit::Verdict::kGo, .at = {}, .charged_tokens = cost};
  }
  Duration RetryDelay(const Error&, Job& job, SteadyTime) override { return retries_.Next(job); }

 private:
  SimpleBucket tokens_;
  SimpleBucket requests_;
  const bool use_requests_;
  BackoffRetries retries_;
};

class SdkAdaptivePacer final : public Pacer {
 public:
  SdkAdaptivePacer(const TimeScale& scale, bool real_time, uint64_t seed, SteadyTime now)
      : origin_(now),
        seconds_per_model_second_(real_time ? 1.0 : scale.factor()),
        limiter_(0.0),
        policy_(SdkRetryOptions(real_time ? TimeScale(std::chrono::minutes(1)) : scale)),
        rng_(seed) {}

  Permit Ask(const Document&, SteadyTime now) override {
    double wait = 0;
    if (limiter_.OnSendingRequest(ModelTime(now), &wait)) return {};
    return {.verdict = Permit::Verdict::kWait,
            .at = now +
                  Duration(static_cast<Duration::rep>(wait * seconds_per_model_second_ * 1e9) + 1),
            .charged_tokens = 0};
  }
  void OnResponse(const Error* error, SteadyTime now) override {
    // botocore's throttling detector: ThrottlingException and its kin; a 5xx counts as a success.
    limiter_.OnReceivingResponse(ModelTime(now), error != nullptr && IsRateThrottle(*error));
  }
  Duration RetryDelay(const Error& error, Job& job, SteadyTime) override {
    aws::AwsError failure{.error = error, .retry_after = std::nullopt, .timed_out = false};
    const aws::RetryDecision d = policy_.OnFailure(failure, job.retry, rng_);
    if (d.retry) return d.delay;
    job.retry = aws::RetryState{};  // the SDK gave up: the application calls again at once
    return Duration::zero();
  }
  void OnSuccess(Job& job) override {
    policy_.OnSuccess(job.retry);
    job.retry = aws::RetryState{};
  }
  bool NotifiesWaiterOnResponse() const override { return true; }

 private:
  static aws::RetryOptions SdkRetryOptions(const TimeScale& scale) {
    aws::RetryOptions o;  // botocore standard mode: 3 attempts, quota 500, 5 per retry
    o.base_backoff = scale.Real(1);
    o.max_backoff = scale.Real(20);
    o.max_retry_after_extra = scale.Real(5);
    o.retry_throttles = true;
    return o;
  }
  double ModelTime(SteadyTime now) const {
    return ToSeconds(now - origin_) / seconds_per_model_second_;
  }

  const SteadyTime origin_;
  const double seconds_per_model_second_;
  SdkClientRateLimiter limiter_;
  aws::RetryPolicy policy_;
  std::mt19937_64 rng_;
};

// Runs strategies 1-4. All state is touched on the transport's loop thread only, except `out_`,
// which the caller reads after the loop has stopped.
class WorkerPool {
 public:
  WorkerPool(const Scenario& scenario, const Workload& workload, const RunOptions& options,
             const std::string& endpoint, std::vector<DocOutcome>& out, Completion& completion)
      : scenario_(scenario),
        workload_(workload),
        transport_(endpoint),
        out_(out),
        completion_(completion),
        idle_workers_(options.workers) {}

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Cancels what is in flight (its callbacks see `stopping_` and start nothing) and stops the
  // loop before any other member goes.
  ~WorkerPool() {
    stopping_.store(true);
    transport_.Shutdown();
  }

  bool ok() const { return transport_.runtime != nullptr; }

  void Start(std::unique_ptr<Pacer> pacer, SteadyTime start, const TimeScale& scale) {
    pacer_ = std::move(pacer);
    for (const Document& d : workload_.docs) {
      const size_t i = d.id;
      transport_.loop.RunAt(start + scale.Real(d.arrival), [this, i] { Arrive(i); });
    }
  }

  // Stops starting work (from any thread); the destructor then cancels what is in flight.
  void Stop() { stopping_.store(true); }

 private:
  void Arrive(size_t i) {
    if (stopping_.load()) return;
    ready_.push_back(Job{.doc = i, .backoff_attempt = 0, .retry = {}});
    if (idle_workers_ > 0) {
      --idle_workers_;
      Next();
    }
  }

  // A worker is free: take the next document, or go idle.
  void Next() {
    if (stopping_.load()) return;
    if (ready_.empty()) {
      ++idle_workers_;
      return;
    }
    Job job = ready_.front();
    ready_.pop_front();
    Attempt(job);
  }

  void Attempt(Job job) {
    if (stopping_.load()) return;
    const Document& doc = workload_.docs[job.doc];
    DocOutcome& o = out_[job.doc];
    const SteadyTime now = SystemClock().Now();
    const Permit permit = pacer_->Ask(doc, now);
    switch (permit.verdict) {
      case Permit::Verdict::kNever:
        o.state = State::kStranded;
        o.finished = now;
        completion_.Done();
        Next();
        return;
      case Permit::Verdict::kWait: {
        const uint64_t seq = next_waiter_++;
        const aws::TimerId timer = transport_.loop.RunAt(permit.at, [this, seq] {
          auto it = waiting_.find(seq);
          if (it == waiting_.end()) return;
          const Job j = it->second.job;
          waiting_.erase(it);
          Attempt(j);
        });
        waiting_.emplace(seq, Waiter{job, timer});
        return;
      }
      case Permit::Verdict::kGo:
        break;
    }
    o.charged_tokens += permit.charged_tokens;
    ++o.attempts;
    bedrock::ConverseRequest r{.model_id = scenario_.model_id, .body = doc.body};
    transport_.runtime->Converse(r, [this, job](bedrock::CallResult<bedrock::ModelResponse> res) {
      OnDone(job, std::move(res));
    });
  }

  // A response moved the pacer's rate: the longest waiter asks again now (if the pacer says so).
  void NotifyOneWaiter() {
    if (!pacer_->NotifiesWaiterOnResponse() || waiting_.empty()) return;
    auto it = waiting_.begin();
    const Waiter w = it->second;
    waiting_.erase(it);
    transport_.loop.Cancel(w.timer);
    Attempt(w.job);
  }

  void OnDone(Job job, bedrock::CallResult<bedrock::ModelResponse> res) {
    if (stopping_.load()) return;
    const SteadyTime now = SystemClock().Now();
    DocOutcome& o = out_[job.doc];
    if (res) {
      pacer_->OnResponse(nullptr, now);
      pacer_->OnSuccess(job);
      NotifyOneWaiter();
      o.state = State::kSucceeded;
      o.finished = now;
      o.settled_tokens = SettledTokens(res->usage, scenario_.burndown);
      completion_.Done();
      Next();
      return;
    }
    const Error& e = res.error().error;
    pacer_->OnResponse(&e, now);
    NotifyOneWaiter();
    if (IsRateThrottle(e)) {
      ++o.throttles;
    } else if (e.retryable) {
      ++o.server_errors;
    } else {
      o.state = State::kFailed;
      o.finished = now;
      o.error = e.ToString();
      completion_.Done();
      Next();
      return;
    }
    const Duration delay = pacer_->RetryDelay(e, job, now);
    transport_.loop.RunAt(now + delay, [this, job] { Attempt(job); });
  }

  const Scenario& scenario_;
  const Workload& workload_;
  Transport transport_;
  std::vector<DocOutcome>& out_;
  Completion& completion_;
  std::unique_ptr<Pacer> pacer_;
  struct Waiter {
    Job job;
    aws::TimerId timer = 0;
  };
  std::deque<Job> ready_;  // arrived, not taken by a worker
  // Workers the pacer told to wait, in the order they started waiting.
  std::map<uint64_t, Waiter> waiting_;
  uint64_t next_waiter_ = 0;
  int idle_workers_;
  std::atomic<bool> stopping_{false};
};

std::unique_ptr<Pacer> MakePacer(StrategyKind kind, const Scenario& scenario,
                                 const Workload& workload, const TimeScale& scale,
                                 const RunOptions& options, SteadyTime now) {
  const uint64_t seed = emulator::MixSeed(options.seed, static_cast<uint64_t>(kind));
  switch (kind) {
    case StrategyKind::kBackoff:
      return std::make_unique<NoLimiterPacer>(scale, seed);
    case StrategyKind::kRpmCounter: {
      const int64_t n =
          scenario.rpm > 0
              ? scenario.rpm
              : std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(scenario.tpm) /
                                                          workload.mean_settled));
      return std::make_unique<RpmCounterPacer>(n, scale, seed);
    }
    case StrategyKind::kTokenBucket:
      return std::make_unique<DualBucketPacer>(scenario, scale, seed, now);
    case StrategyKind::kSdkAdaptive:
      return std::make_unique<SdkAdaptivePacer>(scale, options.sdk_real_time, seed, now);
    case StrategyKind::kQuotaflow:
      break;
  }
  return nullptr;
}

// ---- Strategy 5 ----

// The input tokens the server will charge each document: what a caller that knew them exactly
// would pass as ModelRequest::input_tokens (--qf-exact-input). Measured by the emulator's own code,
// since Bedrock's CountTokens does not count for Nova, the contracts' model.
Result<std::vector<int64_t>> ExactInputTokens(const Scenario& scenario, const Workload& workload) {
  std::vector<int64_t> counts;
  for (const Document& d : workload.docs) {
    Result<int64_t> counted = emulator::ConverseInputTokens(scenario.model_id, d.body);
    if (!counted) {
      return tl::unexpected(Error::InvalidArgument("document " + std::to_string(d.id) + ": " +
                                                   counted.error().message));
    }
    counts.push_back(*counted);
  }
  return counts;
}

void RunQuotaflow(const Scenario& scenario, const Workload& workload, const RunOptions& options,
                  const TimeScale& scale, const std::string& endpoint, SteadyTime start,
                  const std::vector<int64_t>& input_counts, std::vector<DocOutcome>& out,
                  Completion& completion, RunResult& result) {
  aws::StaticCredentialsProvider credentials{EmulatorCredentials()};
  ClientOptions co;
  co.endpoint = endpoint;
  co.credentials = &credentials;
  ModelLimits limits;
  limits.tokens_per_minute = scenario.tpm;
  limits.requests_per_minute = scenario.rpm;
  limits.max_concurrency = 0;
  limits.source = "config";
  co.limits[scenario.model_id] = limits;
  co.period = scale.period();
  // Durations the engine states in Bedrock time scale with the period, as everything else here.
  co.scheduler.aging_step = scale.Real(ToSeconds(co.scheduler.aging_step));
  co.transient_backoff = scale.Real(ToSeconds(co.transient_backoff));
  co.retry_base_backoff = scale.Real(ToSeconds(co.retry_base_backoff));
  co.retry_max_backoff = scale.Real(ToSeconds(co.retry_max_backoff));
  co.jitter_seed = options.seed;
  // Diagnostic variants (--qf-*): none is set for the benchmark's quotaflow rows.
  const QuotaflowVariant& v = options.quotaflow;
  if (v.aging_step) co.scheduler.aging_step = scale.Real(*v.aging_step);
  if (v.no_window_guard) co.limiter.window_guard = false;
  if (v.window_margin_ms) co.limiter.window_margin = std::chrono::milliseconds(*v.window_margin_ms);
  if (v.aging_to_top) co.scheduler.strict_from = kNoStrictClass;
  if (v.beta) co.limiter.adaptive.beta = *v.beta;
  if (v.cubic_c) co.limiter.adaptive.cubic_c = *v.cubic_c;
  if (v.initial_fill) co.limiter.initial_fill = *v.initial_fill;
  std::mutex warn_mu;
  std::vector<std::string> warnings;
  co.warn = [&warn_mu, &warnings](const std::string& w) {
    std::lock_guard lock(warn_mu);
    warnings.push_back(w);
  };
  auto client = Client::Create(std::move(co));
  if (!client) {
    result.error = "quotaflow client: " + client.error().message;
    return;
  }
  std::mutex mu;  // guards `out` against the reads below
  for (const Document& d : workload.docs) {
    const SteadyTime at = start + scale.Real(d.arrival);
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(at.time_since_epoch()));
    ModelRequest r;
    r.model_id = scenario.model_id;
    r.body = d.body;
    if (v.exact_input) r.input_tokens = input_counts[d.id];
    SubmitOptions so;
    so.priority = d.priority;
    so.tag = d.id;
    (*client)->Submit(std::move(r), so,
                      [&out, &mu, &completion, &scenario](const RequestResult& res) {
                        const SteadyTime now = SystemClock().Now();
                        {
                          std::lock_guard lock(mu);
                          if (res) {
                            DocOutcome& o = out[res->tag];
                            o.state = State::kSucceeded;
                            o.finished = res->finished;
                            o.settled_tokens = SettledTokens(res->usage, scenario.burndown);
                            o.charged_tokens = res->settled_tokens;
                            o.throttles = res->throttles;
                            o.attempts = res->attempts;
                            o.server_errors = std::max(0, res->attempts - 1 - res->throttles);
                          } else {
                            DocOutcome& o = out[res.error().tag];
                            o.state = State::kFailed;
                            o.finished = now;
                            o.error = res.error().error.ToString();
                            o.throttles = res.error().throttles;
                            o.attempts = res.error().attempts;
                          }
                        }
                        completion.Done();
                      });
  }
  const bool finished = completion.WaitUntil(start + options.timeout);
  result.timed_out = !finished;
  (*client)->CancelQueued();
  client->reset();
  std::lock_guard lock(mu);  // the callbacks' writes happen-before the reads that follow
}

}  // namespace

std::string QuotaflowVariant::Name() const {
  std::vector<std::string> parts;
  if (exact_input) parts.emplace_back("exact-input");
  if (aging_step) parts.push_back("aging=" + std::to_string(static_cast<int>(*aging_step)) + "s");
  if (no_window_guard) parts.emplace_back("no-guard");
  if (window_margin_ms) parts.push_back("margin=" + std::to_string(*window_margin_ms) + "ms");
  if (aging_to_top) parts.emplace_back("aging-to-top");
  if (beta) parts.push_back(fmt::format("beta={}", *beta));
  if (cubic_c) parts.push_back(fmt::format("C={}", *cubic_c));
  if (initial_fill) parts.push_back(fmt::format("fill={}", *initial_fill));
  std::string name = "quotaflow";
  if (parts.empty()) return name;
  name += "[";
  for (size_t i = 0; i < parts.size(); ++i) name += (i > 0 ? "," : "") + parts[i];
  return name + "]";
}

std::string_view StrategyName(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kBackoff:
      return "backoff";
    case StrategyKind::kRpmCounter:
      return "rpm-counter";
    case StrategyKind::kTokenBucket:
      return "token-bucket";
    case StrategyKind::kSdkAdaptive:
      return "sdk-adaptive";
    case StrategyKind::kQuotaflow:
      return "quotaflow";
  }
  return "?";
}

std::optional<StrategyKind> ParseStrategy(std::string_view name) {
  for (StrategyKind k : kAllStrategies) {
    if (StrategyName(k) == name) return k;
  }
  return std::nullopt;
}

RunResult RunStrategy(StrategyKind kind, const Scenario& scenario, const Workload& workload,
                      const RunOptions& options) {
  RunResult result;
  result.strategy = kind;
  result.scenario = scenario.name;
  result.mode = options.mode;
  const TimeScale scale(options.period);
  emulator::Emulator emu(EmulatorFor(scenario, options.mode, scale, options.seed));
  if (Status s = emu.Start(); !s) {
    result.error = "emulator: " + s.error().message;
    return result;
  }
  const std::string endpoint = emu.endpoint();

  result.docs.resize(workload.docs.size());
  for (const Document& d : workload.docs) result.docs[d.id].priority = d.priority;
  Completion completion(workload.docs.size());

  if (options.warm_start) {
    if (std::string e = SpendFirstPeriod(scenario, endpoint, options.seed); !e.empty()) {
      result.error = e;
      return result;
    }
  }
  std::vector<int64_t> input_counts;
  if (kind == StrategyKind::kQuotaflow && options.quotaflow.exact_input) {
    Result<std::vector<int64_t>> counted = ExactInputTokens(scenario, workload);
    if (!counted) {
      result.error = "--qf-exact-input: " + counted.error().message;
      return result;
    }
    input_counts = std::move(*counted);
  }
  std::unique_ptr<Competitor> competitor;
  if (scenario.competitor_share > 0) {
    competitor = std::make_unique<Competitor>(scenario, scale, endpoint, options.seed);
  }
  // The run (and the competitor with it) starts right after the warm start.
  const SteadyTime start = SystemClock().Now() + std::chrono::milliseconds(20);
  if (competitor) competitor->Start(start);
  result.start = start;
  for (const Document& d : workload.docs) result.docs[d.id].arrival = start + scale.Real(d.arrival);

  if (kind == StrategyKind::kQuotaflow) {
    RunQuotaflow(scenario, workload, options, scale, endpoint, start, input_counts, result.docs,
                 completion, result);
  } else {
    auto pool = std::make_unique<WorkerPool>(scenario, workload, options, endpoint, result.docs,
                                             completion);
    if (!pool->ok()) {
      result.error = "runtime client could not be created";
      return result;
    }
    pool->Start(MakePacer(kind, scenario, workload, scale, options, SystemClock().Now()), start,
                scale);
    result.timed_out = !completion.WaitUntil(start + options.timeout);
    pool->Stop();
    pool.reset();  // cancels what is in flight, stops the loop
  }
  SteadyTime end = start;
  for (const DocOutcome& o : result.docs) {
    if (o.state != State::kPending) end = std::max(end, o.finished);
  }
  if (competitor) result.competitor = competitor->Stop(end);
  competitor.reset();
  ReadServerCounters(emu, "us-east-1/" + scenario.model_id, result);
  emu.Stop();
  return result;
}

}  // namespace quotaflow::bench
