#include "emulator/emulator.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "aws/sigv4.h"
#include "bedrock/model_catalog.h"
#include "emulator/cloudwatch.h"
#include "emulator/inference_profiles.h"
#include "emulator/quota_books.h"
#include "emulator/quota_table.h"
#include "emulator/runtime_api.h"
#include "emulator/service_quotas.h"
#include "emulator/text_generator.h"
#include "emulator/wire.h"
#include "server/http_server.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using bedrock::Operation;
using server::Responder;
using server::ServerRequest;
using server::ServerResponse;

constexpr std::string_view kServiceQuotasType = "application/x-amz-json-1.1";
constexpr std::string_view kCloudWatchType = "application/x-amz-json-1.0";
// Output tokens per stream delta: Bedrock's deltas carry a few tokens each.
constexpr int64_t kTokensPerDelta = 4;
// How long a cached prompt prefix lives after its last use (Bedrock's default TTL).
constexpr Duration kPromptCacheTtl = std::chrono::minutes(5);

enum class Api : uint8_t { kRuntime, kControlPlane, kServiceQuotas, kCloudWatch };

// How each API reports an error: rest-json (x-amzn-ErrorType) or awsJson (__type).
ServerResponse ErrorFor(Api api, int status, std::string_view code, std::string_view message,
                        std::string_view request_id) {
  switch (api) {
    case Api::kServiceQuotas:
      return AwsJsonError(status, kServiceQuotasType, code, message, request_id);
    case Api::kCloudWatch:
      return AwsJsonError(status, kCloudWatchType, code, message, request_id,
                          std::string(code) + ";Sender");
    case Api::kRuntime:
    case Api::kControlPlane:
      break;
  }
  return RestJsonError(status, code, message, request_id);
}

std::string_view SigningName(Api api) {
  switch (api) {
    case Api::kServiceQuotas:
      return "servicequotas";
    case Api::kCloudWatch:
      return "monitoring";
    case Api::kRuntime:
    case Api::kControlPlane:
      break;
  }
  return "bedrock";
}

// "bedrock-runtime.eu-west-1.amazonaws.com[:443]" → "eu-west-1"; empty when the host names none.
std::string RegionFromHost(std::string_view host) {
  const size_t first = host.find('.');
  if (first == std::string_view::npos) return {};
  const std::string_view rest = host.substr(first + 1);
  const size_t second = rest.find('.');
  if (second == std::string_view::npos || !rest.substr(second + 1).starts_with("amazonaws.")) {
    return {};
  }
  return std::string(rest.substr(0, second));
}

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

class EmulatorImpl {
 public:
  EmulatorImpl(EmulatorOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}

  Status Start() {
    if (Status valid = Validate(options_.quotas.books); !valid) return valid;
    if (options_.server.threads < 1) {
      return tl::unexpected(Error::InvalidArgument("server.threads must be at least 1"));
    }
    if (!options_.model_catalog.empty()) {
      Result<bedrock::ModelCatalog> loaded = bedrock::ModelCatalog::Load(options_.model_catalog);
      if (!loaded) return tl::unexpected(loaded.error());
      owned_catalog_ = std::make_unique<bedrock::ModelCatalog>(std::move(*loaded));
      catalog_ = owned_catalog_.get();
    }
    Result<ApplicationProfiles> applications = ApplicationProfiles::Create(
        options_.application_profiles, options_.auth.default_region, *catalog_);
    if (!applications) return tl::unexpected(applications.error());
    applications_ = std::move(*applications);
    started_at_ = clock_.Now();
    books_ = std::make_unique<QuotaBooks>(options_.quotas.books, clock_);
    table_ = std::make_unique<QuotaTable>(options_.quotas, *catalog_);
    table_->OnChange([this](std::string_view region) { ResyncRegion(region); });
    cloudwatch_ = std::make_unique<CloudWatch>(clock_);
    aws::VerifierOptions verifier_options;
    verifier_options.max_clock_skew = options_.auth.max_clock_skew;
    std::unordered_map<std::string, std::string> secrets;
    for (const Credential& c : options_.auth.credentials) {
      secrets[c.access_key_id] = c.secret_access_key;
    }
    verifier_ = std::make_unique<aws::SignatureVerifier>(
        [secrets = std::move(secrets)](std::string_view key) -> std::optional<std::string> {
          auto it = secrets.find(std::string(key));
          if (it == secrets.end()) return std::nullopt;
          return it->second;
        },
        verifier_options);
    bearer_keys_.insert(options_.auth.bearer_keys.begin(), options_.auth.bearer_keys.end());

    server::HttpServer::Options server_options;
    server_options.address = options_.server.address;
    server_options.port = options_.server.port;
    server_options.threads = options_.server.threads;
    server_options.read_timeout = options_.server.idle_timeout;
    server_options.max_connections = 65536;
    server_ = std::make_unique<server::HttpServer>(
        server_options, [this](const ServerRequest& request, Responder responder) {
          Handle(request, std::move(responder));
        });
    service_quotas_ = std::make_unique<ServiceQuotas>(
        *table_, options_.service_quotas, clock_, [this](Duration delay, std::function<void()> fn) {
          server_->RunAfter(delay, std::move(fn));
        });
    return server_->Start();
  }

  void Stop() {
    if (server_) server_->Stop();
  }

  uint16_t port() const { return server_ ? server_->port() : 0; }

  std::string StateJson() const {
    json::object state;
    state["mode"] = CountingModeName(options_.quotas.books.mode);
    state["period_seconds"] = std::chrono::duration<double>(options_.quotas.books.period).count();
    json::array keys;
    if (books_) {
      for (const std::string& key : books_->Keys()) {
        Result<KeySnapshot> snap = books_->Snapshot(key);
        if (!snap) continue;
        auto level = [](const DimensionLevel& d) {
          return json::object{{"limit", d.limit},
                              {"used", d.used},
                              {"available", d.available == kUnlimited ? json::value(nullptr)
                                                                      : json::value(d.available)}};
        };
        const KeyCounters& c = snap->counters;
        json::object counters{{"admitted", c.admitted},
                              {"throttled", c.throttled()},
                              {"throttled_tokens_per_day", c.throttled_tokens_per_day},
                              {"throttled_tokens_per_minute", c.throttled_tokens_per_minute},
                              {"throttled_requests_per_minute", c.throttled_requests_per_minute},
                              {"throttled_concurrency", c.throttled_concurrency},
                              {"reserved_tokens", c.reserved_tokens},
                              {"settled", c.settled},
                              {"settled_tokens", c.settled_tokens},
                              {"excess_tokens", c.excess_tokens},
                              {"abandoned", c.abandoned},
                              {"refunded", c.refunded},
                              {"refunded_tokens", c.refunded_tokens}};
        keys.push_back(json::object{{"key", key},
                                    {"tokens", level(snap->tokens)},
                                    {"requests", level(snap->requests)},
                                    {"daily_tokens", level(snap->daily_tokens)},
                                    {"in_flight", snap->in_flight},
                                    {"max_concurrency", snap->quota.max_concurrency},
                                    {"counters", std::move(counters)}});
      }
    }
    state["keys"] = std::move(keys);
    json::object faults;
    faults["injected"] = faults_injected_.load(std::memory_order_relaxed);
    state["faults"] = std::move(faults);
    return json::serialize(state);
  }

 private:
  // One admitted runtime request on its way to the client.
  struct Call {
    explicit Call(Responder r) : responder(std::move(r)) {}

    Invocation inv;
    Generation generation;
    std::string region;
    Ticket ticket;
    int64_t charge = 0;  // input + cache_write + output × burndown
    Responder responder;
    std::string request_id;
    SteadyTime started{};
  };

  void Handle(const ServerRequest& request, Responder responder) {
    const std::string request_id = NewRequestId();
    std::string_view target = request.target;
    if (request.method == "GET" && target.starts_with("/_quotaflow/state")) {
      responder.Respond(JsonResponse(StateJson(), request_id));
      return;
    }
    Api api = Api::kRuntime;
    std::string_view operation;
    if (std::optional<std::string_view> t = FindHeader(request.headers, "X-Amz-Target")) {
      if (t->starts_with(kServiceQuotasTargetPrefix)) {
        api = Api::kServiceQuotas;
        operation = t->substr(kServiceQuotasTargetPrefix.size());
      } else if (t->starts_with(kCloudWatchTargetPrefix)) {
        api = Api::kCloudWatch;
        operation = t->substr(kCloudWatchTargetPrefix.size());
      } else {
        responder.Respond(AwsJsonError(400, kServiceQuotasType, "UnknownOperationException",
                                       "Unknown target: " + std::string(*t), request_id));
        return;
      }
    } else if (target.starts_with("/inference-profiles")) {
      api = Api::kControlPlane;
    }

    std::string region;
    if (std::optional<ServerResponse> denied = Authenticate(request, api, request_id, region)) {
      responder.Respond(std::move(*denied));
      return;
    }
    switch (api) {
      case Api::kServiceQuotas:
        responder.Respond(service_quotas_->Handle(region, operation, request.body, request_id));
        return;
      case Api::kCloudWatch:
        responder.Respond(cloudwatch_->Handle(region, operation, request.body, request_id));
        return;
      case Api::kControlPlane:
        if (request.method != "GET") {
          responder.Respond(ErrorFor(api, 405, "UnknownOperationException",
                                     "Only GET is supported here.", request_id));
          return;
        }
        responder.Respond(
            HandleInferenceProfiles(target, region, *catalog_, applications_, request_id));
        return;
      case Api::kRuntime:
        HandleRuntime(request, std::move(responder), region, request_id);
        return;
    }
  }

  // Checks the request's credentials as AWS does; on success sets `region` (from the credential
  // scope, or for a bearer key from the Host) and returns nullopt, else the rejection to send.
  std::optional<ServerResponse> Authenticate(const ServerRequest& request, Api api,
                                             std::string_view request_id, std::string& region) {
    const std::optional<std::string_view> authorization =
        FindHeader(request.headers, "Authorization");
    if (authorization && authorization->starts_with("Bearer ")) {
      if (SigningName(api) != "bedrock") {
        return ErrorFor(api, 403, "AccessDeniedException",
                        "Bearer API keys are accepted only by Amazon Bedrock.", request_id);
      }
      if (!bearer_keys_.contains(std::string(authorization->substr(7)))) {
        return ErrorFor(api, 403, "UnrecognizedClientException",
                        "The security token included in the request is invalid.", request_id);
      }
      const std::optional<std::string_view> host = FindHeader(request.headers, "Host");
      region = host ? RegionFromHost(*host) : std::string();
      if (region.empty()) region = options_.auth.default_region;
      return std::nullopt;
    }
    if (!authorization) {
      return ErrorFor(api, 403, "MissingAuthenticationTokenException",
                      "Missing Authentication Token", request_id);
    }
    std::string_view path = request.target;
    std::string_view query;
    if (const size_t q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    aws::SignableRequest signable;
    signable.method = request.method;
    signable.path = path;
    signable.query = query;
    signable.headers = request.headers;
    signable.body = request.body;
    const aws::VerifyResult result = verifier_->Verify(signable, clock_.WallNow());
    switch (result.status) {
      case aws::VerifyStatus::kOk:
        break;
      case aws::VerifyStatus::kMissingAuthorization:
        return ErrorFor(api, 403, "MissingAuthenticationTokenException",
                        "Missing Authentication Token", request_id);
      case aws::VerifyStatus::kMalformedAuthorization:
        return ErrorFor(api, 403, "IncompleteSignatureException", result.message, request_id);
      case aws::VerifyStatus::kUnknownAccessKey:
        return ErrorFor(api, 403, "UnrecognizedClientException",
                        "The security token included in the request is invalid.", request_id);
      case aws::VerifyStatus::kScopeMismatch:
      case aws::VerifyStatus::kClockSkew:
      case aws::VerifyStatus::kSignatureMismatch:
        return ErrorFor(api, 403, "InvalidSignatureException", result.message, request_id);
    }
    if (result.authorization.service != SigningName(api)) {
      return ErrorFor(api, 403, "InvalidSignatureException",
                      "Credential should be scoped to correct service: '" +
                          std::string(SigningName(api)) + "'. ",
                      request_id);
    }
    region = result.authorization.region;
    return std::nullopt;
  }

  void HandleRuntime(const ServerRequest& request, Responder responder, const std::string& region,
                     const std::string& request_id) {
    auto path = ParseRuntimePath(request.target);
    if (!path || request.method != "POST") {
      responder.Respond(RestJsonError(404, "UnknownOperationException", "", request_id));
      return;
    }
    auto parsed =
        ParseInvocation(path->first, path->second, request.body, region, *catalog_, applications_);
    if (!parsed) {
      const ApiError& e = parsed.error();
      // CloudWatch keeps metrics only for models that exist.
      if (catalog_->Find(path->second) != nullptr ||
          applications_.Find(path->second, region) != nullptr) {
        RecordOutcome(region, path->second, InvocationRecord::Outcome::kClientError);
      }
      responder.Respond(RestJsonError(e.status, e.code, e.message, request_id));
      return;
    }
    Invocation& inv = *parsed;
    if (inv.op == Operation::kInvokeModel || inv.op == Operation::kInvokeModelWithResponseStream) {
      // InvokeModel takes these as headers and echoes them in its response headers.
      inv.performance_latency =
          FindHeader(request.headers, "X-Amzn-Bedrock-PerformanceConfig-Latency")
              .value_or(std::string_view());
      inv.service_tier =
          FindHeader(request.headers, "X-Amzn-Bedrock-Service-Tier").value_or(std::string_view());
    }
    if (inv.op == Operation::kCountTokens) {
      responder.Respond(JsonResponse(CountTokensResponseBody(inv.input_tokens), request_id));
      return;
    }
    if (InjectFault(inv, responder, region, request_id)) return;

    const std::string key = region + "/" + inv.resolved.QuotaId();
    const int64_t reserve = inv.input_tokens + inv.output_cap;
    Result<StartResult> start = books_->Start(key, reserve);
    if (!start && start.error().code == ErrorCode::kNotFound) {
      (void)books_->SetQuota(key, table_->QuotaFor(region, inv.resolved));
      start = books_->Start(key, reserve);
    }
    if (!start) {
      responder.Respond(
          RestJsonError(500, "InternalServerException", start.error().message, request_id));
      return;
    }
    if (!start->admitted()) {
      RecordOutcome(region, inv.model_id, InvocationRecord::Outcome::kThrottled);
      responder.Respond(RestJsonError(ThrottleHttpStatus(start->throttle),
                                      ThrottleAwsCode(start->throttle), start->message,
                                      request_id));
      return;
    }

    auto call = std::make_shared<Call>(std::move(responder));
    call->region = region;
    call->ticket = std::move(start->ticket);
    call->request_id = request_id;
    call->started = clock_.Now();
    Generate(inv, call->generation);
    const bedrock::ModelInfo& model = *inv.resolved.model;
    call->charge = call->generation.input_tokens + call->generation.cache_write_input_tokens +
                   call->generation.output_tokens * model.output_burndown;
    call->inv = std::move(inv);
    if (bedrock::IsStreaming(call->inv.op)) {
      StartStream(std::move(call));
    } else {
      const Duration delay = std::chrono::milliseconds(call->generation.latency_ms);
      if (delay <= Duration::zero()) {
        FinishCall(*call);
      } else {
        server_->RunAfter(delay, [this, call] { FinishCall(*call); });
      }
    }
  }

  // Draws the faults configured, in order; true when one was injected (and answered).
  bool InjectFault(const Invocation& inv, const Responder& responder, const std::string& region,
                   const std::string& request_id) {
    const FaultOptions& f = options_.faults;
    if (f.internal_error + f.service_unavailable + f.model_timeout + f.model_not_ready +
            f.connection_reset + f.stalled_response <=
        0) {
      return false;
    }
    if (!f.regions.empty() &&
        std::find(f.regions.begin(), f.regions.end(), region) == f.regions.end()) {
      return false;
    }
    if (clock_.Now() - started_at_ < f.start_after) return false;
    SplitMix64 rng(MixSeed(options_.seed ^ 0xfa017ULL,
                           fault_sequence_.fetch_add(1, std::memory_order_relaxed)));
    double x = rng.NextDouble();
    auto hit = [&x](double p) {
      if (x < p) return true;
      x -= p;
      return false;
    };
    using Outcome = InvocationRecord::Outcome;
    auto fail = [&](int status, std::string_view code, std::string_view message) {
      faults_injected_.fetch_add(1, std::memory_order_relaxed);
      RecordOutcome(region, inv.model_id,
                    status == 429   ? Outcome::kThrottled
                    : status >= 500 ? Outcome::kServerError
                                    : Outcome::kClientError);
      responder.Respond(RestJsonError(status, code, message, request_id));
      return true;
    };
    if (hit(f.internal_error)) {
      return fail(500, "InternalServerException",
                  "The server encountered an internal error while processing the request.");
    }
    if (hit(f.service_unavailable)) {
      return fail(503, "ServiceUnavailableException", "Bedrock is unable to process your request.");
    }
    if (hit(f.model_timeout)) {
      return fail(408, "ModelTimeoutException",
                  "Model has timed out in processing the request. Try your request again.");
    }
    if (hit(f.model_not_ready)) {
      return fail(429, "ModelNotReadyException",
                  "Model is not ready to serve inference requests. Try your request again later.");
    }
    if (hit(f.connection_reset)) {
      faults_injected_.fetch_add(1, std::memory_order_relaxed);
      responder.Reset();
      return true;
    }
    if (hit(f.stalled_response)) {
      faults_injected_.fetch_add(1, std::memory_order_relaxed);
      responder.Stall();
      return true;
    }
    return false;
  }

  // Fills the generation: prompt cache, output length and text, latency.
  void Generate(const Invocation& inv, Generation& g) {
    g.input_tokens = inv.input_tokens;
    if (inv.cache_prefix_tokens > 0) {
      const uint64_t cache_key = MixSeed(HashBytes(inv.resolved.QuotaId()), inv.cache_prefix_hash);
      const SteadyTime now = clock_.Now();
      bool hit = false;
      {
        std::lock_guard lock(cache_mu_);
        auto [it, inserted] = prompt_cache_.try_emplace(cache_key, now + kPromptCacheTtl);
        hit = !inserted && it->second > now;
        it->second = now + kPromptCacheTtl;
        if (prompt_cache_.size() > 100'000)
          std::erase_if(prompt_cache_, [now](const auto& e) { return e.second <= now; });
      }
      g.input_tokens -= inv.cache_prefix_tokens;
      (hit ? g.cache_read_input_tokens : g.cache_write_input_tokens) = inv.cache_prefix_tokens;
    }
    const uint64_t seed = MixSeed(options_.seed, inv.content_hash);
    const auto [tokens, cut] = DrawOutputTokens(options_.output, seed, inv.output_cap);
    g.output_tokens = tokens;
    g.max_tokens_reached = cut;
    g.text = GenerateText(MixSeed(seed, 1), tokens,
                          bedrock::IsStreaming(inv.op) ? &g.token_ends : nullptr);
    const LatencyOptions& l = options_.latency;
    Duration jitter{0};
    if (l.jitter > Duration::zero()) {
      SplitMix64 rng(MixSeed(seed, 2));
      jitter =
          Duration(static_cast<int64_t>(rng.Below(static_cast<uint64_t>(l.jitter.count()) + 1)));
    }
    g.first_byte_latency_ms = Millis(l.time_to_first_token + jitter);
    g.latency_ms = Millis(l.time_to_first_token + jitter + l.per_output_token * tokens);
  }

  static void AddEchoHeaders(const Invocation& inv, Headers& headers) {
    if (!inv.performance_latency.empty()) {
      headers.emplace_back("X-Amzn-Bedrock-PerformanceConfig-Latency", inv.performance_latency);
    }
    if (!inv.service_tier.empty()) {
      headers.emplace_back("X-Amzn-Bedrock-Service-Tier", inv.service_tier);
    }
  }

  void FinishCall(Call& call) {
    const Generation& g = call.generation;
    ServerResponse response;
    if (call.inv.op == Operation::kConverse) {
      response = JsonResponse(ConverseResponseBody(call.inv, g), call.request_id);
    } else {
      response = JsonResponse(InvokeResponseBody(call.inv, g), call.request_id);
      AddEchoHeaders(call.inv, response.headers);
      response.headers.emplace_back("X-Amzn-Bedrock-Invocation-Latency",
                                    std::to_string(g.latency_ms));
      response.headers.emplace_back("X-Amzn-Bedrock-Output-Token-Count",
                                    std::to_string(g.output_tokens));
      response.headers.emplace_back("X-Amzn-Bedrock-Input-Token-Count",
                                    std::to_string(g.input_tokens));
      if (AlwaysSendsCacheCounts(call.inv) || g.cache_read_input_tokens > 0 ||
          g.cache_write_input_tokens > 0) {
        response.headers.emplace_back("X-Amzn-Bedrock-Cache-Read-Input-Token-Count",
                                      std::to_string(g.cache_read_input_tokens));
        response.headers.emplace_back("X-Amzn-Bedrock-Cache-Write-Input-Token-Count",
                                      std::to_string(g.cache_write_input_tokens));
      }
    }
    (void)call.ticket.Settle(call.charge);
    RecordSuccess(call, std::nullopt);
    call.responder.Respond(std::move(response));
  }

  // A stream: headers at the first byte, then each frame when its tokens are "generated".
  void StartStream(std::shared_ptr<Call> call) {
    const Generation& g = call->generation;
    std::vector<StreamFrame> frames = call->inv.op == Operation::kConverseStream
                                          ? ConverseStreamFrames(call->inv, g, kTokensPerDelta)
                                          : InvokeStreamFrames(call->inv, g, kTokensPerDelta);
    bool throttle_midway = false;
    if (options_.faults.stream_throttle > 0) {
      SplitMix64 rng(MixSeed(options_.seed ^ 0x57e4ULL,
                             fault_sequence_.fetch_add(1, std::memory_order_relaxed)));
      throttle_midway = rng.NextDouble() < options_.faults.stream_throttle;
    }
    if (throttle_midway) {
      // The first delta goes out, then the service throttles: the stream ends with an exception
      // frame and the request keeps its whole reservation.
      const size_t keep = std::min<size_t>(frames.size(), 2);
      frames.resize(keep);
      frames.push_back(
          {ExceptionFrame("throttlingException", ThrottleMessage(ThrottleReason::kTokensPerMinute)),
           frames.empty() ? 0 : frames.back().output_tokens_before});
      call->charge = call->ticket.reserved_tokens();
      faults_injected_.fetch_add(1, std::memory_order_relaxed);
    }
    auto state = std::make_shared<StreamState>();
    state->call = std::move(call);
    state->frames = std::move(frames);
    if (g.first_byte_latency_ms <= 0) {
      SendFrames(state);
    } else {
      server_->RunAfter(std::chrono::milliseconds(state->call->generation.first_byte_latency_ms),
                        [this, state] { SendFrames(state); });
    }
  }

  struct StreamState {
    std::shared_ptr<Call> call;
    std::vector<StreamFrame> frames;
    size_t next = 0;
    int64_t tokens_generated = 0;  // output tokens the latency model has "generated" so far
    server::ResponseStream stream;
    bool started = false;
  };

  // Sends every frame that is due, then waits for the next one's time.
  void SendFrames(const std::shared_ptr<StreamState>& s) {
    Call& call = *s->call;
    if (!s->started) {
      s->started = true;
      Headers headers = {{"Content-Type", "application/vnd.amazon.eventstream"},
                         {"x-amzn-RequestId", call.request_id}};
      if (call.inv.op == Operation::kInvokeModelWithResponseStream) {
        headers.emplace_back("X-Amzn-Bedrock-Content-Type", "application/json");
        AddEchoHeaders(call.inv, headers);
      }
      s->stream = call.responder.StartStream(200, std::move(headers));
    }
    const Duration per_token = options_.latency.per_output_token;
    while (s->next < s->frames.size() && !s->stream.closed()) {
      StreamFrame& frame = s->frames[s->next];
      const Duration wait = per_token * (frame.output_tokens_before - s->tokens_generated);
      if (wait > Duration::zero()) {
        s->tokens_generated = frame.output_tokens_before;
        server_->RunAfter(wait, [this, s] { SendFrames(s); });
        return;
      }
      s->stream.Send(std::move(frame.bytes));
      ++s->next;
    }
    s->stream.Finish();
    (void)call.ticket.Settle(call.charge);
    RecordSuccess(call, call.generation.first_byte_latency_ms);
  }

  void RecordSuccess(const Call& call, std::optional<int64_t> first_token_ms) {
    const Generation& g = call.generation;
    InvocationRecord r;
    r.region = call.region;
    r.model_id = call.inv.model_id;
    r.at = clock_.WallNow();
    r.outcome = InvocationRecord::Outcome::kSuccess;
    r.input_tokens = g.input_tokens;
    r.output_tokens = g.output_tokens;
    r.cache_read_input_tokens = g.cache_read_input_tokens;
    r.cache_write_input_tokens = g.cache_write_input_tokens;
    r.latency_ms = static_cast<double>(g.latency_ms);
    if (first_token_ms) r.time_to_first_token_ms = static_cast<double>(*first_token_ms);
    r.quota_tokens = call.charge;
    cloudwatch_->Record(r);
  }

  void RecordOutcome(std::string_view region, std::string_view model_id,
                     InvocationRecord::Outcome outcome) {
    InvocationRecord r;
    r.region = region;
    r.model_id = model_id;
    r.at = clock_.WallNow();
    r.outcome = outcome;
    cloudwatch_->Record(r);
  }

  // After an approved increase: every live key of the region takes its new quota.
  void ResyncRegion(std::string_view region) {
    const std::string prefix = std::string(region) + "/";
    for (const std::string& key : books_->Keys()) {
      if (!key.starts_with(prefix)) continue;
      Result<bedrock::ResolvedModel> resolved = catalog_->Resolve(key.substr(prefix.size()));
      if (resolved) (void)books_->SetQuota(key, table_->QuotaFor(region, *resolved));
    }
  }

  const EmulatorOptions options_;
  const Clock& clock_;
  std::unique_ptr<bedrock::ModelCatalog> owned_catalog_;
  const bedrock::ModelCatalog* catalog_ = &bedrock::ModelCatalog::Default();
  ApplicationProfiles applications_;  // set by Start, before the server runs; then immutable
  std::unique_ptr<QuotaBooks> books_;
  std::unique_ptr<QuotaTable> table_;
  std::unique_ptr<CloudWatch> cloudwatch_;
  std::unique_ptr<aws::SignatureVerifier> verifier_;
  std::unordered_set<std::string> bearer_keys_;
  std::atomic<uint64_t> fault_sequence_{0};
  std::atomic<int64_t> faults_injected_{0};
  SteadyTime started_at_{};  // set by Start: faults.start_after counts from it
  std::mutex cache_mu_;
  std::unordered_map<uint64_t, SteadyTime> prompt_cache_;  // GUARDED_BY(cache_mu_)
  // Declared after everything its handlers use, so that it stops (joining the I/O threads)
  // before they are destroyed.
  std::unique_ptr<server::HttpServer> server_;
  std::unique_ptr<ServiceQuotas> service_quotas_;
};

Emulator::Emulator(EmulatorOptions options, const Clock& clock)
    : impl_(std::make_unique<EmulatorImpl>(std::move(options), clock)) {}

Emulator::~Emulator() { impl_->Stop(); }

Status Emulator::Start() { return impl_->Start(); }
void Emulator::Stop() { impl_->Stop(); }
uint16_t Emulator::port() const { return impl_->port(); }
std::string Emulator::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port());
}
std::string Emulator::StateJson() const { return impl_->StateJson(); }

}  // namespace quotaflow::emulator
