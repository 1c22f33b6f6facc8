#include "quotaflow/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <unordered_map>

#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/inference_profiles_client.h"
#include "bedrock/model_body.h"
#include "bedrock/model_catalog.h"
#include "bedrock/quota_match.h"
#include "bedrock/runtime_client.h"
#include "bedrock/service_quotas_client.h"
#include "engine/limits.h"
#include "quotaflow/token_estimator.h"

namespace quotaflow {
namespace {

// A tokens-per-day throttle pauses the model this many periods (an hour of minutes), then probes
// again: Bedrock does not say when its day frees, and a paused model costs nothing meanwhile.
constexpr int64_t kDailyPausePeriods = 60;

bool IsRateThrottle(ThrottleKind kind) {
  return kind == ThrottleKind::kTokensPerMinute || kind == ThrottleKind::kRequestsPerMinute;
}

Status ValidateOptions(const ClientOptions& o) {
  if (o.endpoint.empty()) return tl::unexpected(Error::InvalidArgument("no endpoint"));
  if ((o.credentials == nullptr) == o.bearer_token.empty()) {
    return tl::unexpected(
        Error::InvalidArgument("exactly one of credentials and bearer_token must be set"));
  }
  if (!(o.quota_share > 0 && o.quota_share <= 1)) {
    return tl::unexpected(
        Error::InvalidArgument(fmt::format("quota share {} is outside (0, 1]", o.quota_share)));
  }
  if (o.period <= Duration::zero()) {
    return tl::unexpected(Error::InvalidArgument("the quota period must be positive"));
  }
  if (!(o.throttle_patience_periods >= 0) || o.max_transient_requeues < 0) {
    return tl::unexpected(
        Error::InvalidArgument("the throttle patience and requeue limits must not be negative"));
  }
  if (o.attempts < 1 || o.retry_base_backoff < Duration::zero() ||
      o.retry_max_backoff < o.retry_base_backoff) {
    return tl::unexpected(Error::InvalidArgument(
        "attempts must be at least 1, and the retry backoffs 0 <= base <= max"));
  }
  return {};
}

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
        catalog_(options_.catalog != nullptr ? *options_.catalog
                                             : bedrock::ModelCatalog::Default()),
        loop_(clock_),
        scheduler_(options_.scheduler, clock_) {
    if (!options_.warn) {
      options_.warn = [](const std::string& message) {
        std::cerr << "quotaflow: warning: " << message << "\n";
      };
    }
  }

  ~Impl() {
    stopping_.store(true);
    CancelQueued();
    // Completes every call in flight with kCancelled (its callback refunds or charges), then the
    // transport, then the loop.
    runtimes_.clear();
    http_.reset();
    loop_.Stop();
  }

  Status Start() {
    loop_.Start();
    http_ = std::make_unique<aws::HttpClient>(loop_);
    // The client's own region: checks the options now, and serves CountTokens.
    auto runtime = Runtime(options_.endpoint, options_.region, /*failover=*/false);
    if (!runtime) return tl::unexpected(std::move(runtime).error());
    default_runtime_ = *runtime;
    return {};
  }

  Result<ModelLimits> Limits(const std::string& name) {
    auto route = Route(name);
    if (!route) return tl::unexpected(std::move(route).error());
    if ((*route)->targets.size() == 1) return (*route)->targets[0]->limits;
    ModelLimits sum;
    sum.source = fmt::format("route of {} targets", (*route)->targets.size());
    for (const TargetState* t : (*route)->targets) {
      sum.tokens_per_minute += t->limits.tokens_per_minute;
      sum.requests_per_minute += t->limits.requests_per_minute;
      sum.tokens_per_day += t->limits.tokens_per_day;
      sum.max_concurrency += t->limits.max_concurrency;
      sum.note += fmt::format("{}{}: {} ({})", sum.note.empty() ? "" : "; ", t->key,
                              t->limits.tokens_per_minute, t->limits.source);
    }
    return sum;
  }

  Result<const bedrock::ModelInfo*> ModelInfoOf(const std::string& name) {
    auto route = Route(name);
    if (!route) return tl::unexpected(std::move(route).error());
    return (*route)->targets[0]->info;
  }

  RequestId Submit(ModelRequest request, const SubmitOptions& options, ResultCallback done) {
    const RequestId id = next_id_.fetch_add(1) + 1;
    // Fails at once, through the callback on the loop thread; WaitIdle waits for it too.
    auto failed = [&](Error error) {
      RequestFailure f;
      f.tag = options.tag;
      f.error = std::move(error);
      {
        std::lock_guard lock(mu_);
        ++outstanding_;
      }
      loop_.Post([this, done = std::move(done), f = std::move(f)]() mutable {
        done(tl::unexpected(std::move(f)));
        {
          std::lock_guard lock(mu_);
          --outstanding_;
        }
        idle_cv_.notify_all();
      });
      return id;
    };
    auto route = Route(request.model_id);
    if (!route) return failed(std::move(route).error());
    RouteState* r = *route;
    // Priority classes the route hands straight to its fallback.
    while (r->fallback != nullptr &&
           std::find(r->fallback_priorities.begin(), r->fallback_priorities.end(),
                     options.priority) != r->fallback_priorities.end()) {
      r = r->fallback;
    }
    auto p = std::make_unique<Pending>();
    p->id = id;
    p->request = std::move(request);
    p->options = options;
    p->done = std::move(done);
    p->first_enqueued = clock_.Now();
    if (Status placed = Place(*p, r); !placed) {
      request = std::move(p->request);
      done = std::move(p->done);
      return failed(placed.error());
    }
    Pending* raw = p.get();
    {
      std::lock_guard lock(mu_);
      raw->route->queued += 1;
      raw->route->queued_tokens += raw->cost.tokens;
      requests_.emplace(id, std::move(p));
      ++outstanding_;
    }
    Enqueue(raw, /*requeue=*/false);
    return id;
  }

  bool Cancel(RequestId id) {
    WaiterId waiter = 0;
    {
      std::lock_guard lock(mu_);
      auto it = requests_.find(id);
      if (it == requests_.end() || it->second->stage != Stage::kQueued) return false;
      waiter = it->second->waiter;
    }
    if (waiter == 0 || !scheduler_.Cancel(waiter)) return false;
    FinishPosted(id, Error::Cancelled("cancelled before it started"));
    return true;
  }

  void CancelQueued() {
    std::vector<std::pair<RequestId, WaiterId>> queued;
    std::vector<RequestId> backing_off;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, p] : requests_) {
        if (p->stage == Stage::kBackingOff) backing_off.push_back(id);
        if (p->stage == Stage::kQueued) queued.emplace_back(id, p->waiter);
      }
    }
    for (auto [id, waiter] : queued) {
      if (waiter != 0 && scheduler_.Cancel(waiter)) {
        FinishPosted(id, Error::Cancelled("cancelled before it started"));
      }
    }
    for (RequestId id : backing_off) {
      loop_.Post([this, id] {
        Pending* p = Find(id);
        if (p == nullptr || p->backoff_timer == 0) return;
        loop_.Cancel(p->backoff_timer);
        p->backoff_timer = 0;
        Finish(p, Error::Cancelled("cancelled while waiting to retry"));
      });
    }
  }

  bool WaitIdle(Duration timeout) {
    std::unique_lock lock(mu_);
    auto idle = [this] { return outstanding_ == 0; };
    if (timeout == Duration::max()) {
      idle_cv_.wait(lock, idle);
      return true;
    }
    return idle_cv_.wait_for(lock, timeout, idle);
  }

  Result<Decision> EstimateStart(const std::string& name, const Cost& cost, int priority) {
    auto route = Route(name);
    if (!route) return tl::unexpected(std::move(route).error());
    std::vector<int> candidates;
    for (const TargetState* t : (*route)->targets) candidates.push_back(t->limiter_index);
    return scheduler_.EstimateStart(cost, priority, candidates);
  }

  Result<Cost> CostOf(const ModelRequest& request) {
    auto route = Route(request.model_id);
    if (!route) return tl::unexpected(std::move(route).error());
    Pending p;
    p.request = request;
    if (Status placed = Place(p, *route); !placed) return tl::unexpected(placed.error());
    return p.cost;
  }

  Result<int64_t> CountTokens(const std::string& name, const std::string& body) {
    auto route = Route(name);
    const TargetState* target = route ? (*route)->targets[0] : nullptr;
    bedrock::RuntimeClient* runtime = target != nullptr ? target->runtime : default_runtime_;
    bedrock::CountTokensRequest request;
    // CountTokens takes the foundation model, never an inference profile: count a profile's
    // requests by the model it serves, whose tokenizer they meet.
    request.model_id = target == nullptr         ? name
                       : target->info != nullptr ? target->info->id
                                                 : target->model_id;
    request.body = body;
    {
      std::lock_guard lock(mu_);
      if (auto it = uncounted_.find(request.model_id); it != uncounted_.end()) {
        return tl::unexpected(it->second);
      }
    }
    auto counted = runtime->CountTokensSync(request);
    if (!counted) {
      Error& error = counted.error().error;
      if (error.aws_code == "ValidationException" &&
          error.message.find("support counting tokens") != std::string::npos) {
        std::lock_guard lock(mu_);
        uncounted_.emplace(request.model_id, error);
      }
      return tl::unexpected(std::move(error));
    }
    return counted->input_tokens;
  }

  ClientStats Stats() const {
    ClientStats stats;
    const SteadyTime now = clock_.Now();
    std::vector<const TargetState*> targets;
    {
      std::lock_guard lock(mu_);
      for (const auto& t : targets_) {
        targets.push_back(t.get());
        ModelStats s = t->stats;
        s.model_id = t->key;
        s.region = t->region;
        s.limits = t->limits;
        s.in_flight = t->in_flight;
        stats.models.push_back(std::move(s));
      }
      for (const auto& [name, r] : routes_) {
        RouteStats rs;
        rs.name = name;
        rs.queued = r->queued;
        rs.queued_tokens = r->queued_tokens;
        stats.routes.push_back(std::move(rs));
      }
    }
    for (size_t i = 0; i < stats.models.size(); ++i) {
      stats.models[i].limiter = targets[i]->limiter->Stats();
    }
    for (RouteStats& rs : stats.routes) {
      // The queue drains over the route's targets in proportion to their token quotas: when the
      // slowest share would have been admitted.
      const RouteState& r = *routes_by_name_.at(rs.name);
      int64_t total_tpm = 0;
      for (const TargetState* t : r.targets) total_tpm += t->limits.tokens_per_minute;
      rs.drain_eta = now;
      for (const TargetState* t : r.targets) {
        const double share = total_tpm > 0 ? static_cast<double>(t->limits.tokens_per_minute) /
                                                 static_cast<double>(total_tpm)
                                           : 1.0 / static_cast<double>(r.targets.size());
        Decision d = t->limiter->EstimateDrain(
            Cost{
                .requests = static_cast<int64_t>(std::ceil(static_cast<double>(rs.queued) * share)),
                .tokens = static_cast<int64_t>(static_cast<double>(rs.queued_tokens) * share),
                .slots = 0},
            now);
        if (d.earliest > rs.drain_eta) {
          rs.drain_eta = d.earliest;
          rs.bottleneck = d.blocking;
        }
      }
    }
    stats.scheduler = scheduler_.Stats();
    stats.queue = scheduler_.Status();
    return stats;
  }

  const ClientOptions& options() const { return options_; }

 private:
  // A model in a region (a route's target), with its own quotas, limiter and health.
  struct TargetState {
    std::string key;  // "region/model id"
    std::string model_id;
    std::string region;
    const bedrock::ModelInfo* info = nullptr;
    ModelLimits limits;
    std::unique_ptr<Limiter> limiter;
    int limiter_index = 0;
    bedrock::RuntimeClient* runtime = nullptr;
    std::vector<std::string> destinations;  // regions (or patterns) a request may reach
    // Loop thread only.
    bool daily_warned = false;
    int consecutive_failures = 0;
    Duration cool_down{};  // the current cool-down; zero while healthy
    bool probing = false;  // cooled down, now letting one request test it
    bool probe_in_flight = false;
    aws::TimerId cool_timer = 0;
    // Guarded by Impl::mu_.
    ModelStats stats;
    int64_t in_flight = 0;
  };

  // A logical model name: its targets, in order of preference (cost, then weight).
  struct RouteState {
    std::string name;
    std::vector<TargetState*> targets;
    std::vector<std::vector<std::string>> classes;  // per target: request classes allowed
    RouteState* fallback = nullptr;
    std::vector<int> fallback_priorities;
    // Guarded by Impl::mu_.
    int64_t queued = 0;
    int64_t queued_tokens = 0;
  };

  enum class Stage : uint8_t { kQueued, kInFlight, kBackingOff };

  // One submitted request until its callback has run. Once enqueued, fields other than the ones
  // marked are touched on the loop thread only, which is also the only thread that frees it.
  struct Pending {
    RequestId id = 0;
    RouteState* route = nullptr;
    std::vector<int> candidates;  // limiter indices of the targets allowed for it
    std::vector<int> excluded;    // targets that failed it (transient): tried last
    ModelRequest request;
    SubmitOptions options;
    ResultCallback done;
    Cost cost;
    TokenEstimate estimate;
    // The model whose estimate priced it, when every candidate target runs that model and the
    // caller gave no input count: then a better calibration may price it again while it queues.
    const bedrock::ModelInfo* repriceable = nullptr;
    SteadyTime first_enqueued{};
    Stage stage = Stage::kQueued;  // guarded by mu_
    WaiterId waiter = 0;           // guarded by mu_: the scheduler's id while queued
    aws::TimerId backoff_timer = 0;
    TargetState* target = nullptr;  // of the current or last attempt
    Reservation reservation;
    Duration waited{};
    SteadyTime started{};
    int throttles = 0;
    SteadyTime first_throttle{};  // of a rate throttle
    int transient_requeues = 0;
    int attempts = 0;
  };

  // The runtime client for an endpoint and signing region. A target of a route with others to
  // fail over to makes one attempt per request (a 5xx moves the request to another target rather
  // than retrying the same one); a lone target retries in place. REQUIRES: resolve_mu_ held, or
  // Start.
  Result<bedrock::RuntimeClient*> Runtime(const std::string& endpoint, const std::string& region,
                                          bool failover) {
    const std::string key = fmt::format("{}|{}|{}", endpoint, region, failover);
    if (auto it = runtimes_.find(key); it != runtimes_.end()) return it->second.get();
    bedrock::RuntimeClientOptions ro;
    ro.endpoint = endpoint;
    ro.region = region;
    ro.credentials = options_.credentials;
    ro.bearer_token = options_.bearer_token;
    ro.http.read_timeout = options_.read_timeout;
    ro.jitter_seed = options_.jitter_seed;
    ro.retry.max_attempts = failover ? 1 : options_.attempts;
    ro.retry.base_backoff = options_.retry_base_backoff;
    ro.retry.max_backoff = options_.retry_max_backoff;
    auto runtime = bedrock::RuntimeClient::Create(loop_, *http_, std::move(ro));
    if (!runtime) return tl::unexpected(std::move(runtime).error());
    bedrock::RuntimeClient* raw = runtime->get();
    runtimes_.emplace(key, std::move(*runtime));
    return raw;
  }

  // The route a name stands for, created on first use with its targets: limits resolved (config,
  // discovery, defaults) and a limiter per target registered with the scheduler. Discovery blocks
  // the calling thread once per target.
  Result<RouteState*> Route(const std::string& name) {
    {
      std::lock_guard lock(mu_);
      auto it = routes_by_name_.find(name);
      if (it != routes_by_name_.end()) return it->second;
    }
    std::lock_guard resolve_lock(resolve_mu_);  // one discovery at a time
    return RouteLocked(name);
  }

  // REQUIRES: resolve_mu_ held.
  Result<RouteState*> RouteLocked(const std::string& name) {
    {
      std::lock_guard lock(mu_);
      auto it = routes_by_name_.find(name);
      if (it != routes_by_name_.end()) return it->second;
    }
    ::quotaflow::Route config;
    if (auto it = options_.routes.routes.find(name); it != options_.routes.routes.end()) {
      config = it->second;
    } else {
      RouteTarget only;
      only.region = options_.region;
      only.model_id = name;
      config.name = name;
      config.targets.push_back(std::move(only));
    }
    auto route = std::make_unique<RouteState>();
    route->name = name;
    route->fallback_priorities = config.fallback_priorities;
    if (!config.fallback.empty()) {
      auto fallback = RouteLocked(config.fallback);
      if (!fallback) return tl::unexpected(std::move(fallback).error());
      route->fallback = *fallback;
    }
    // Preference among targets that could start a request at the same moment: lower cost, then
    // higher weight, then the order of the config.
    std::stable_sort(config.targets.begin(), config.targets.end(),
                     [](const RouteTarget& a, const RouteTarget& b) {
                       return a.cost != b.cost ? a.cost < b.cost : a.weight > b.weight;
                     });
    const bool failover = config.targets.size() > 1;
    for (const RouteTarget& t : config.targets) {
      auto target = Target(t, failover, /*limits_name=*/config.targets.size() == 1 &&
                                                !options_.routes.routes.contains(name)
                                            ? name
                                            : std::string());
      if (!target) return tl::unexpected(std::move(target).error());
      route->targets.push_back(*target);
      route->classes.push_back(t.classes);
    }
    RouteState* raw = route.get();
    std::lock_guard lock(mu_);
    routes_by_name_.emplace(name, raw);
    routes_.emplace(name, std::move(route));
    return raw;
  }

  // REQUIRES: resolve_mu_ held. `limits_name`: the name options_.limits is keyed by for a model
  // named directly (not through a route).
  Result<TargetState*> Target(const RouteTarget& t, bool failover, const std::string& limits_name) {
    const std::string key = t.Key();
    for (const auto& existing : targets_) {
      if (existing->key == key) return existing.get();
    }
    // Asked once: it names both what an application profile copies and where a profile serves.
    std::optional<Result<bedrock::InferenceProfile>> profile;
    if (bedrock::InferenceProfilesClient* profiles = ProfilesIn(t.region)) {
      profile = profiles->GetInferenceProfile(t.model_id);
    }
    auto resolved = Resolve(t.model_id, profile);
    if (!resolved) return tl::unexpected(std::move(resolved).error());
    auto runtime = Runtime(t.endpoint.empty() ? options_.endpoint : t.endpoint, t.region, failover);
    if (!runtime) return tl::unexpected(std::move(runtime).error());
    auto target = std::make_unique<TargetState>();
    target->key = key;
    target->model_id = t.model_id;
    target->region = t.region;
    target->info = resolved->model;
    target->runtime = *runtime;
    target->destinations = Destinations(t, profile);
    if (t.tokens_per_minute > 0) {
      target->limits.tokens_per_minute = t.tokens_per_minute;
      target->limits.requests_per_minute = t.requests_per_minute;
      target->limits.max_concurrency = t.max_concurrency;
      target->limits.source = "config";
    } else {
      target->limits = ResolveLimits(limits_name.empty() ? key : limits_name, t.region, *resolved);
    }
    LimiterConfig config = engine::LimiterConfigFor(target->limits, options_.quota_share,
                                                    options_.period, options_.limiter);
    if (Status valid = Validate(config); !valid) return tl::unexpected(valid.error());
    target->limiter = std::make_unique<Limiter>(config, clock_);
    target->limiter_index = scheduler_.AddLimiter(target->limiter.get());
    TargetState* raw = target.get();
    std::lock_guard lock(mu_);
    if (targets_by_limiter_.size() <= static_cast<size_t>(raw->limiter_index)) {
      targets_by_limiter_.resize(static_cast<size_t>(raw->limiter_index) + 1);
    }
    targets_by_limiter_[static_cast<size_t>(raw->limiter_index)] = raw;
    targets_.push_back(std::move(target));
    return raw;
  }

  // The control-plane clients of a region: the client's own, or what the options give for another.
  bedrock::InferenceProfilesClient* ProfilesIn(const std::string& region) const {
    if (region == options_.region) return options_.inference_profiles;
    return options_.inference_profiles_for ? options_.inference_profiles_for(region) : nullptr;
  }
  bedrock::ServiceQuotasClient* QuotasIn(const std::string& region) const {
    if (region == options_.region) return options_.service_quotas;
    return options_.service_quotas_for ? options_.service_quotas_for(region) : nullptr;
  }

  // Every region a request to this target may be served in: an inference profile's destination
  // regions (`profile`: the control plane's answer, when the client has one), else what its
  // geography implies.
  static std::vector<std::string> Destinations(
      const RouteTarget& t, const std::optional<Result<bedrock::InferenceProfile>>& profile) {
    if (profile && *profile) {
      std::vector<std::string> regions = bedrock::DestinationRegions(**profile);
      if (!regions.empty()) return regions;
    }
    return ImpliedDestinations(t.model_id, t.region);
  }

  // The catalog entry of a model id, a profile or an ARN; an application inference profile stands
  // for the model or system profile it copies (`profile`: GetInferenceProfile's answer for it).
  Result<bedrock::ResolvedModel> Resolve(
      const std::string& model_id,
      const std::optional<Result<bedrock::InferenceProfile>>& profile) const {
    auto resolved = catalog_.Resolve(model_id);
    if (resolved || !profile ||
        model_id.find(":application-inference-profile/") == std::string::npos) {
      return resolved;
    }
    if (!*profile) return tl::unexpected(profile->error());
    auto source = bedrock::ModelIdForProfile(**profile, catalog_);
    if (!source) return tl::unexpected(std::move(source).error());
    return catalog_.Resolve(*source);
  }

  // REQUIRES: resolve_mu_ held.
  ModelLimits ResolveLimits(const std::string& name, const std::string& region,
                            const bedrock::ResolvedModel& model) {
    if (auto it = options_.limits.find(name); it != options_.limits.end()) {
      ModelLimits limits = it->second;
      limits.source = "config";
      return limits;
    }
    std::string why = "no Service Quotas client for " + region;
    bedrock::ServiceQuotasClient* sq = QuotasIn(region);
    if (sq != nullptr) {
      auto& quotas = quotas_by_region_[region];
      if (!quotas) {
        auto applied = sq->ListServiceQuotas();
        auto defaults = sq->ListAWSDefaultServiceQuotas();
        if (applied && defaults) {
          quotas = bedrock::MergeQuotas(*applied, *defaults);
        } else {
          why = "Service Quotas: " + (applied ? defaults.error() : applied.error()).ToString();
        }
      }
      if (quotas) {
        auto limits = engine::LimitsFromQuotas(model, *quotas);
        if (limits) return *limits;
        why = limits.error().message;
      }
    }
    ModelLimits limits = options_.default_limits;
    limits.source = "default";
    limits.note = fmt::format(
        "using conservative default limits for {} ({} tokens/min{}) because {}; set the "
        "limits explicitly or grant servicequotas:ListServiceQuotas",
        name, limits.tokens_per_minute,
        limits.max_concurrency > 0 ? fmt::format(", {} in flight", limits.max_concurrency) : "",
        why);
    options_.warn(limits.note);
    return limits;
  }

  // Chooses the targets of `route` a request may use (its class's permission and residency rule)
  // and computes its reservation cost: the largest over those targets. Fails with the reason
  // when no target may take it.
  Status Place(Pending& p, RouteState* route) {
    const std::string& cls = p.options.request_class;
    const ResidencyRule* rule = nullptr;
    if (!cls.empty()) {
      auto it = options_.routes.classes.find(cls);
      if (it != options_.routes.classes.end()) rule = &it->second;
    }
    p.route = route;
    p.candidates.clear();
    std::optional<std::pair<Cost, TokenEstimate>> cost;
    for (size_t i = 0; i < route->targets.size(); ++i) {
      TargetState* t = route->targets[i];
      const auto& classes = route->classes[i];
      const bool permitted =
          cls.empty() || std::any_of(classes.begin(), classes.end(),
                                     [&](const std::string& c) { return WildcardMatch(c, cls); });
      if (!permitted || (rule != nullptr && !ResidencyAllows(*rule, t->destinations))) continue;
      if (p.candidates.size() == static_cast<size_t>(kMaxCandidates)) break;
      auto c = CostFor(*t, p.request);
      if (!c) return tl::unexpected(std::move(c).error());
      if (!cost || c->first.tokens > cost->first.tokens) cost = *c;
      p.repriceable = p.candidates.empty() || p.repriceable == t->info ? t->info : nullptr;
      p.candidates.push_back(t->limiter_index);
    }
    if (p.candidates.empty()) {
      return tl::unexpected(Error::InvalidArgument(fmt::format(
          "no target of {} may serve request class '{}'{}", route->name, cls,
          rule != nullptr ? " (its residency rule excludes every target's regions)" : "")));
    }
    p.cost = cost->first;
    p.estimate = cost->second;
    if (p.request.input_tokens) p.repriceable = nullptr;
    return {};
  }

  // The reservation cost and the input estimate behind it.
  Result<std::pair<Cost, TokenEstimate>> CostFor(const TargetState& t, const ModelRequest& r) {
    std::optional<int64_t> max_tokens = r.max_tokens;
    if (!max_tokens) {
      const bool converse = r.api == Api::kConverse || r.api == Api::kConverseStream;
      auto read = converse ? bedrock::ReadConverseMaxTokens(r.body)
                           : bedrock::ReadMaxTokens(t.info->family, r.body);
      if (!read) return tl::unexpected(std::move(read).error());
      max_tokens = *read;
    }
    TokenEstimate estimate;
    if (r.input_tokens) {
      estimate.tokens = estimate.heuristic = *r.input_tokens;
    } else {
      estimate = estimator_.Estimate(t.info->id, r.body);
    }
    // Above the model's maximum Bedrock refuses the request before charging it: reserving more
    // would only delay that answer.
    const int64_t output =
        std::min(bedrock::ReservedOutputTokens(*t.info, max_tokens), t.info->max_output_tokens);
    return std::pair{Cost{.requests = 1, .tokens = estimate.tokens + output, .slots = 1}, estimate};
  }

  Pending* Find(RequestId id) {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    return it == requests_.end() ? nullptr : it->second.get();
  }

  // Puts `p` in the scheduler, not holding mu_ (the loop thread takes mu_ after the scheduler's
  // lock). Once the scheduler has it, the loop may start, finish and free it at any moment: only
  // its id is used after that. A request that cannot meet its deadline (or could never start) on
  // its route goes to the route's fallback, if it has one.
  void Enqueue(Pending* p, bool requeue) {
    const RequestId id = p->id;
    // Targets that failed this request come last: tried only when no other one is left.
    std::vector<int> candidates;
    for (int c : p->candidates) {
      if (std::find(p->excluded.begin(), p->excluded.end(), c) == p->excluded.end()) {
        candidates.push_back(c);
      }
    }
    if (candidates.empty()) candidates = p->candidates;
    WaiterOptions wo{.priority = p->options.priority, .deadline = p->options.deadline, .tag = id};
    Result<WaiterId> waiter = requeue
                                  ? scheduler_.Requeue(p->cost, candidates, wo, p->first_enqueued)
                                  : scheduler_.Enqueue(p->cost, candidates, wo);
    if (!waiter && !requeue && p->route->fallback != nullptr &&
        (waiter.error().code == ErrorCode::kDeadlineExceeded ||
         waiter.error().code == ErrorCode::kImpossible)) {
      RouteState* from = p->route;
      if (Place(*p, from->fallback)) {
        {
          std::lock_guard lock(mu_);
          from->queued -= 1;
          from->queued_tokens -= p->cost.tokens;
          p->route->queued += 1;
          p->route->queued_tokens += p->cost.tokens;
        }
        Enqueue(p, /*requeue=*/false);
        return;
      }
    }
    if (!waiter) {
      FinishPosted(id, std::move(waiter).error());
      return;
    }
    {
      std::lock_guard lock(mu_);
      auto it = requests_.find(id);
      if (it != requests_.end() && it->second->stage == Stage::kQueued) {
        it->second->waiter = *waiter;
      }
    }
    SchedulePump();
  }

  void SchedulePump() {
    if (pump_posted_.exchange(true)) return;
    loop_.Post([this] {
      pump_posted_.store(false);
      if (!stopping_.load()) Pump();
    });
  }

  // Loop thread: start what the scheduler grants, fail what it fails, arm the next wake-up.
  void Pump() {
    scheduler_.Pump(&pump_);
    for (Failure& f : pump_.failed) {
      if (Pending* p = Find(f.tag)) Finish(p, std::move(f.error));
    }
    for (Grant& g : pump_.granted) {
      if (Pending* p = Find(g.tag)) StartCall(p, g);
    }
    if (pump_.next_wake != wake_at_) {
      if (wake_timer_ != 0) loop_.Cancel(wake_timer_);
      wake_timer_ = 0;
      wake_at_ = pump_.next_wake;
      if (wake_at_ != SteadyTime::max()) {
        wake_timer_ = loop_.RunAt(wake_at_, [this] {
          wake_timer_ = 0;
          wake_at_ = SteadyTime::max();
          if (!stopping_.load()) Pump();
        });
      }
    }
  }

  TargetState* TargetOf(int limiter_index) {
    std::lock_guard lock(mu_);
    return targets_by_limiter_.at(static_cast<size_t>(limiter_index));
  }

  void StartCall(Pending* p, Grant& g) {
    p->reservation = std::move(g.reservation);
    p->waited = g.waited;
    p->started = clock_.Now();
    p->target = TargetOf(g.limiter);
    if (stopping_.load()) {
      Finish(p, Error::Cancelled("the client is shutting down"));
      return;
    }
    TargetState& t = *p->target;
    if (t.probing) {
      if (t.probe_in_flight) {
        // One pass may grant several waiters on a target just released for its probe: only the
        // first goes; the rest return to the queue untouched.
        p->reservation.Refund();
        Requeue(p, /*started=*/false);
        return;
      }
      t.probe_in_flight = true;
      t.limiter->HoldUntil(SteadyTime::max());
    }
    {
      std::lock_guard lock(mu_);
      p->stage = Stage::kInFlight;
      p->waiter = 0;
      p->route->queued -= 1;
      p->route->queued_tokens -= p->cost.tokens;
      t.in_flight += 1;
      t.stats.requests_sent += 1;
    }
    const RequestId id = p->id;
    auto done = [this, id](bedrock::CallResult<bedrock::ModelResponse> result) {
      if (Pending* q = Find(id)) OnCallDone(q, std::move(result));
    };
    const ModelRequest& r = p->request;
    // A route's target may name another model than the request: send the target's.
    const std::string& model_id =
        p->route->targets.size() == 1 && !options_.routes.routes.contains(r.model_id) ? r.model_id
                                                                                      : t.model_id;
    switch (r.api) {
      case Api::kConverse:
        t.runtime->Converse({.model_id = model_id, .body = r.body}, std::move(done));
        break;
      case Api::kConverseStream:
        t.runtime->ConverseStream({.model_id = model_id, .body = r.body}, nullptr, std::move(done));
        break;
      case Api::kInvokeModel: {
        bedrock::InvokeModelRequest invoke;
        invoke.model_id = model_id;
        invoke.body = r.body;
        t.runtime->InvokeModel(invoke, std::move(done));
        break;
      }
      case Api::kInvokeModelStream: {
        bedrock::InvokeModelRequest invoke;
        invoke.model_id = model_id;
        invoke.body = r.body;
        t.runtime->InvokeModelWithResponseStream(invoke, nullptr, std::move(done));
        break;
      }
    }
  }

  // Loop thread: what the engine does with each outcome (the table in client.h).
  void OnCallDone(Pending* p, bedrock::CallResult<bedrock::ModelResponse> result) {
    p->attempts += result ? result->attempts : result.error().attempts;
    {
      std::lock_guard lock(mu_);
      p->stage = Stage::kBackingOff;  // until Requeue or Finish says otherwise
      p->target->in_flight -= 1;
    }
    p->target->probe_in_flight = false;
    if (result) {
      Healthy(*p->target);
      Succeed(p, std::move(*result));
    } else {
      Failed(p, std::move(result).error());
    }
    SchedulePump();  // a reservation ended: someone may start now
  }

  // Loop thread: a request succeeded on `t`. A cooled-down target's probe brings it back.
  void Healthy(TargetState& t) {
    t.consecutive_failures = 0;
    if (!t.probing) return;
    t.probing = false;
    t.cool_down = Duration::zero();
    t.limiter->HoldUntil(SteadyTime::min());
    std::lock_guard lock(mu_);
    t.stats.cooling = false;
  }

  // Loop thread: a transient failure on `t`. After `failures_to_cool_down` in a row (or a failed
  // probe) nothing starts there for the cool-down; then one probe request may.
  void Unhealthy(TargetState& t) {
    ++t.consecutive_failures;
    {
      std::lock_guard lock(mu_);
      t.stats.errors += 1;
    }
    if (!t.probing && t.consecutive_failures < options_.failures_to_cool_down) return;
    if (t.cool_timer != 0) return;  // already cooling
    t.cool_down = t.cool_down == Duration::zero()
                      ? options_.cool_down
                      : std::min(t.cool_down * 2, options_.max_cool_down);
    t.probing = false;
    t.limiter->HoldUntil(SteadyTime::max());
    {
      std::lock_guard lock(mu_);
      t.stats.cooling = true;
    }
    options_.warn(fmt::format("{} failed {} times in a row; no request starts there for {:.1f} s",
                              t.key, t.consecutive_failures, ToSeconds(t.cool_down)));
    TargetState* target = &t;
    t.cool_timer = loop_.RunAt(clock_.Now() + t.cool_down, [this, target] {
      target->cool_timer = 0;
      target->probing = true;  // the next grant there is a single probe
      target->limiter->HoldUntil(SteadyTime::min());
      SchedulePump();
    });
  }

  // Loop thread. A request is priced when it is submitted, with the estimator as it stands then: a
  // backlog submitted at once is priced at the uncalibrated heuristic (~28% over the contracts'
  // true count in throughput_bench), and every start of it would hold that much quota too long.
  // Once the model's calibration has moved by more than 1% since its queue was last priced, the
  // queued requests of that model are priced again, in place.
  void RepriceIfCalibrationMoved(const bedrock::ModelInfo* model) {
    const double factor = estimator_.Factor(model->id);
    double& priced = priced_factor_.try_emplace(model, 1.0).first->second;
    if (std::abs(factor - priced) <= 0.01 * priced) return;
    priced = factor;
    // Lock order: the scheduler's, then mu_.
    scheduler_.Reprice([this, model, factor](uint64_t tag, const Cost&) -> std::optional<Cost> {
      std::lock_guard lock(mu_);
      auto it = requests_.find(tag);
      if (it == requests_.end()) return std::nullopt;
      Pending& p = *it->second;
      if (p.stage != Stage::kQueued || p.repriceable != model) return std::nullopt;
      const TokenEstimate e = CalibratingTokenEstimator::Priced(p.estimate.heuristic, factor);
      const int64_t delta = e.tokens - p.estimate.tokens;
      p.estimate = e;
      p.cost.tokens += delta;
      p.route->queued_tokens += delta;
      return p.cost;
    });
  }

  void Succeed(Pending* p, bedrock::ModelResponse response) {
    TargetState& t = *p->target;
    const Usage& u = response.usage;
    int64_t settled = p->cost.tokens;  // no usage reported: what was reserved
    if (response.usage_source != bedrock::UsageSource::kNone) {
      settled = SettledTokens(u, t.info->output_burndown);
      if (!p->request.input_tokens) {
        estimator_.Observe(t.info->id, p->estimate,
                           u.input_tokens + u.cache_read_tokens + u.cache_write_tokens);
        RepriceIfCalibrationMoved(t.info);
      }
    }
    std::optional<Duration> server_latency;
    if (response.latency_ms) server_latency = std::chrono::milliseconds(*response.latency_ms);
    p->reservation.Settle(settled, server_latency);
    ModelResult out{.tag = p->options.tag,
                    .target = t.key,
                    .text = std::move(response.text),
                    .usage = u,
                    .settled_tokens = settled,
                    .stop_reason = std::move(response.stop_reason),
                    .request_id = std::move(response.request_id),
                    .priority = p->options.priority,
                    .waited = p->waited,
                    .started = p->started,
                    .finished = clock_.Now(),
                    .throttles = p->throttles,
                    .attempts = p->attempts};
    {
      std::lock_guard lock(mu_);
      t.stats.completed += 1;
      t.stats.tokens_settled += settled;
      t.stats.usage.input_tokens += u.input_tokens;
      t.stats.usage.output_tokens += u.output_tokens;
      t.stats.usage.cache_read_tokens += u.cache_read_tokens;
      t.stats.usage.cache_write_tokens += u.cache_write_tokens;
    }
    Complete(p, RequestResult(std::move(out)));
  }

  void Failed(Pending* p, bedrock::CallError e) {
    TargetState& t = *p->target;
    const ThrottleKind kind = e.error.throttle;
    if (e.response_started) {
      // Bedrock answered 200 and counted the request: charge what it reserved, never refund.
      p->reservation.Settle(p->cost.tokens);
      Finish(p, std::move(e.error), /*charged=*/true);
      return;
    }
    const SteadyTime granted_at = p->reservation.granted_at();
    p->reservation.Refund();
    if (IsRateThrottle(kind) || kind == ThrottleKind::kTokensPerDay) {
      // The throttled target's limiter is cut (or paused): the requeued request then starts
      // wherever it can soonest, on this target or another of its route.
      t.limiter->OnServerThrottle(kind, granted_at,
                                  kind == ThrottleKind::kTokensPerDay
                                      ? options_.period * kDailyPausePeriods
                                      : Duration::zero());
      {
        std::lock_guard lock(mu_);
        t.stats.throttles += 1;
      }
      ++p->throttles;
      if (kind == ThrottleKind::kTokensPerDay && !t.daily_warned) {
        t.daily_warned = true;
        options_.warn(fmt::format(
            "{} hit its tokens-per-day quota; new requests to it wait {} s, then try again ({})",
            t.key, ToSeconds(options_.period * kDailyPausePeriods), e.error.message));
      }
      if (kind == ThrottleKind::kTokensPerDay) {
        Requeue(p);
        return;
      }
      const SteadyTime now = clock_.Now();
      if (p->first_throttle == SteadyTime{}) p->first_throttle = now;
      const Duration throttled_for = now - p->first_throttle;
      if (throttled_for <= std::chrono::duration_cast<Duration>(
                               options_.period * options_.throttle_patience_periods)) {
        Requeue(p);
        return;
      }
      e.error.message += fmt::format(" (throttled {} times over {:.1f} s; giving up)", p->throttles,
                                     ToSeconds(throttled_for));
      Finish(p, std::move(e.error));
      return;
    }
    const bool transient = e.error.retryable || kind == ThrottleKind::kModelNotReady;
    if (!transient || e.error.code == ErrorCode::kCancelled) {
      Finish(p, std::move(e.error));
      return;
    }
    if (kind != ThrottleKind::kModelNotReady) Unhealthy(t);
    // Fail over: another target that has not failed this request takes it at once.
    if (std::find(p->excluded.begin(), p->excluded.end(), t.limiter_index) == p->excluded.end()) {
      p->excluded.push_back(t.limiter_index);
    }
    const bool another = std::any_of(p->candidates.begin(), p->candidates.end(), [&](int c) {
      return std::find(p->excluded.begin(), p->excluded.end(), c) == p->excluded.end();
    });
    if (another) {
      Requeue(p);
      return;
    }
    if (p->transient_requeues < options_.max_transient_requeues) {
      const Duration backoff = options_.transient_backoff * (int64_t{1} << p->transient_requeues);
      ++p->transient_requeues;
      p->excluded.clear();  // every target failed it: after the backoff, any may try again
      const RequestId id = p->id;
      p->backoff_timer = loop_.RunAt(clock_.Now() + backoff, [this, id] {
        Pending* q = Find(id);
        if (q == nullptr) return;
        q->backoff_timer = 0;
        if (stopping_.load()) {
          Finish(q, Error::Cancelled("the client is shutting down"));
        } else {
          Requeue(q);
        }
      });
      return;
    }
    Finish(p, std::move(e.error));
  }

  // Back into the scheduler at the head of its class. `started`: the request had left the queue
  // (it ran, or waited out a backoff) and is counted as queued again.
  void Requeue(Pending* p, bool started = true) {
    {
      std::lock_guard lock(mu_);
      p->stage = Stage::kQueued;
      p->waiter = 0;
      if (started) {
        p->route->queued += 1;
        p->route->queued_tokens += p->cost.tokens;
      }
    }
    Enqueue(p, /*requeue=*/true);
  }

  // Fails `id` on the loop thread (from any thread).
  void FinishPosted(RequestId id, Error error) {
    loop_.Post([this, id, error = std::move(error)]() mutable {
      if (Pending* p = Find(id)) Finish(p, std::move(error));
    });
  }

  // Loop thread: a failure.
  void Finish(Pending* p, Error error, bool charged = false) {
    {
      std::lock_guard lock(mu_);
      if (p->stage == Stage::kQueued) {
        p->route->queued -= 1;
        p->route->queued_tokens -= p->cost.tokens;
      }
      if (p->target != nullptr) p->target->stats.failed += 1;
    }
    Complete(p, tl::unexpected(RequestFailure{.tag = p->options.tag,
                                              .error = std::move(error),
                                              .target = p->target != nullptr ? p->target->key : "",
                                              .charged = charged,
                                              .throttles = p->throttles,
                                              .attempts = p->attempts}));
  }

  // Loop thread: hands the result over and forgets the request.
  void Complete(Pending* p, RequestResult result) {
    ResultCallback done = std::move(p->done);
    std::unique_ptr<Pending> owned;
    {
      std::lock_guard lock(mu_);
      auto it = requests_.find(p->id);
      owned = std::move(it->second);
      requests_.erase(it);
    }
    done(std::move(result));
    {
      std::lock_guard lock(mu_);
      --outstanding_;
    }
    idle_cv_.notify_all();
  }

  ClientOptions options_;
  Clock& clock_;
  const bedrock::ModelCatalog& catalog_;
  aws::EventLoop loop_;
  std::unique_ptr<aws::HttpClient> http_;
  Scheduler scheduler_;
  CalibratingTokenEstimator estimator_;
  std::atomic<RequestId> next_id_{0};
  std::atomic<bool> pump_posted_{false};
  std::atomic<bool> stopping_{false};  // set by the destructor: nothing new starts

  std::mutex resolve_mu_;  // serializes route and target creation (discovery may block)
  std::map<std::string, std::optional<std::vector<bedrock::ServiceQuota>>>
      quotas_by_region_;  // GUARDED_BY(resolve_mu_)
  std::map<std::string, std::unique_ptr<bedrock::RuntimeClient>>
      runtimes_;                                       // GUARDED_BY(resolve_mu_)
  bedrock::RuntimeClient* default_runtime_ = nullptr;  // set by Start

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<TargetState>> targets_;                 // GUARDED_BY(mu_)
  std::vector<TargetState*> targets_by_limiter_;                      // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<RouteState>> routes_;         // GUARDED_BY(mu_)
  std::unordered_map<std::string, RouteState*> routes_by_name_;       // GUARDED_BY(mu_)
  std::unordered_map<RequestId, std::unique_ptr<Pending>> requests_;  // GUARDED_BY(mu_)
  int64_t outstanding_ = 0;                                           // GUARDED_BY(mu_)
  // Models CountTokens said it does not count for, and what it said: asked again, the answer is
  // the same, so a caller that counts every request does not pay a failing round trip each time.
  std::unordered_map<std::string, Error> uncounted_;  // GUARDED_BY(mu_)

  // Loop thread only.
  PumpResult pump_;
  // By model: the calibration its queued requests were last priced with.
  std::unordered_map<const bedrock::ModelInfo*, double> priced_factor_;
  aws::TimerId wake_timer_ = 0;
  SteadyTime wake_at_ = SteadyTime::max();
};

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (Status valid = ValidateOptions(options); !valid) return tl::unexpected(valid.error());
  auto impl = std::make_unique<Impl>(std::move(options));
  if (Status started = impl->Start(); !started) return tl::unexpected(started.error());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<ModelLimits> Client::Limits(const std::string& model_id) { return impl_->Limits(model_id); }

Result<const bedrock::ModelInfo*> Client::Model(const std::string& model_id) {
  return impl_->ModelInfoOf(model_id);
}

RequestId Client::Submit(ModelRequest request, const SubmitOptions& options, ResultCallback done) {
  return impl_->Submit(std::move(request), options, std::move(done));
}

RequestResult Client::Call(ModelRequest request, const SubmitOptions& options) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<RequestResult> out;
  Submit(std::move(request), options, [&](RequestResult r) {
    std::lock_guard lock(mu);
    out.emplace(std::move(r));
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

bool Client::Cancel(RequestId id) { return impl_->Cancel(id); }
void Client::CancelQueued() { impl_->CancelQueued(); }
bool Client::WaitIdle(Duration timeout) { return impl_->WaitIdle(timeout); }

Result<Decision> Client::EstimateStart(const std::string& model_id, const Cost& cost,
                                       int priority) {
  return impl_->EstimateStart(model_id, cost, priority);
}

Result<Cost> Client::CostOf(const ModelRequest& request) { return impl_->CostOf(request); }
Result<int64_t> Client::CountTokens(const std::string& model_id, const std::string& body) {
  return impl_->CountTokens(model_id, body);
}
ClientStats Client::Stats() const { return impl_->Stats(); }
const ClientOptions& Client::options() const { return impl_->options(); }

}  // namespace quotaflow
