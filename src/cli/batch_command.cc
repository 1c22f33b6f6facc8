#include "cli/batch_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "aws/credentials_provider.h"
#include "batch/inputs.h"
#include "batch/ledger.h"
#include "batch/pipeline.h"
#include "batch/priority_rules.h"
#include "batch/prompt_template.h"
#include "bedrock/model_catalog.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/signals.h"
#include "emulator/config.h"
#include "emulator/emulator.h"
#include "quotaflow/client.h"
#include "quotaflow/duration_text.h"

namespace quotaflow::cli {
namespace json = boost::json;

namespace {

constexpr std::string_view kCommand = "batch";

// "1:05", "1:02:03".
std::string MinutesSeconds(Duration d) {
  const int64_t s =
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Result<std::vector<batch::PromptVariant>> LoadPrompts(const BatchFlags& flags) {
  std::vector<batch::PromptVariant> prompts;
  for (auto [name, path] :
       {std::pair{"full", &flags.prompt}, std::pair{"standard", &flags.prompt_standard},
        std::pair{"minimal", &flags.prompt_minimal}}) {
    if (path->empty()) continue;
    auto prompt = batch::PromptTemplate::Load(*path);
    if (!prompt) return tl::unexpected(std::move(prompt).error());
    prompts.push_back({name, std::move(*prompt)});
  }
  return prompts;
}

// Ctrl-C drains: a watcher thread takes SIGINT and SIGTERM (`signals`, blocked in every thread
// since before the first one started: BlockShutdownSignals) and asks the run to stop; a second one
// exits at once (the ledger resumes from whatever was committed). A signal that came earlier is
// taken at once: the run stops before it starts anything.
class SignalWatcher {
 public:
  SignalWatcher(batch::BatchRun& run, const sigset_t& signals) : signals_(signals) {
    thread_ = std::thread([this, &run] {
      int seen = 0;
      while (!done_.load()) {
        timespec wait{0, 100'000'000};
        if (sigtimedwait(&signals_, nullptr, &wait) < 0) continue;
        if (++seen == 1) {
          std::cerr << "\nquotaflow batch: stopping: no new requests; in-flight ones finish "
                       "(Ctrl-C again to quit now; a rerun resumes either way)\n";
          interrupted_.store(true);
          run.RequestStop();
        } else {
          _exit(kExitInterrupted);
        }
      }
    });
  }
  ~SignalWatcher() {
    done_.store(true);
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  sigset_t signals_{};
  std::atomic<bool> done_{false};
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

// Progress on stderr: a live line on a terminal, a plain line every few seconds otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

  void operator()(const batch::BatchProgress& p) {
    if (quiet_) return;
    const double minutes = std::max(1e-9, ToSeconds(p.elapsed) / 60);
    const double period_minutes = std::max(1e-9, ToSeconds(p.period) / 60);
    const double tokens_per_period =
        static_cast<double>(p.settled_tokens) / minutes * period_minutes;
    const int64_t finished = p.done + p.failed;
    std::string quota;
    if (p.tokens_per_minute_quota > 0) {
      quota = fmt::format(" ({:.0f}% of {})",
                          100 * tokens_per_period / static_cast<double>(p.tokens_per_minute_quota),
                          FormatNumber(static_cast<double>(p.tokens_per_minute_quota)));
    }
    const std::string unit = p.period == std::chrono::minutes(1) ? "min" : FormatDuration(p.period);
    std::string line = fmt::format(
        "{}/{} docs{} · {:.1f} docs/min · {} tokens/{}{} · {} throttles · ETA {}", finished,
        p.total, p.failed > 0 ? fmt::format(" ({} failed)", p.failed) : "",
        static_cast<double>(finished) / minutes, FormatNumber(std::round(tokens_per_period)), unit,
        quota, p.throttles, p.eta ? MinutesSeconds(*p.eta) : "?");
    if (tty_) {
      constexpr int kWidth = 20;
      const int filled = p.total > 0 ? static_cast<int>(kWidth * finished / p.total) : 0;
      std::cerr << "\r\033[K[" << std::string(static_cast<size_t>(filled), '#')
                << std::string(static_cast<size_t>(kWidth - filled), '.') << "] " << line
                << std::flush;
      live_ = true;
    } else {
      std::cerr << "quotaflow batch: " << MinutesSeconds(p.elapsed) << " " << line << "\n";
    }
  }

  void Finish() {
    if (live_) std::cerr << "\n";
    live_ = false;
  }

  bool tty() const { return tty_; }

 private:
  const bool quiet_;
  const bool tty_;
  bool live_ = false;
};

json::object SummaryJson(const batch::BatchSummary& s, const std::string& model) {
  json::object failures;
  for (const auto& [reason, n] : s.failures) failures[reason] = n;
  json::object served_by;
  for (const auto& [target, n] : s.served_by) served_by[target] = n;
  json::array policy;
  for (const std::string& step : s.policy) policy.push_back(json::string(step));
  json::object out{{"model", model},
                   {"documents", s.documents},
                   {"succeeded", s.succeeded},
                   {"failed", s.failed},
                   {"pending", s.pending},
                   {"failures", std::move(failures)},
                   {"served_by", std::move(served_by)},
                   {"requests", s.requests},
                   {"input_tokens", s.usage.input_tokens},
                   {"output_tokens", s.usage.output_tokens},
                   {"cache_read_tokens", s.usage.cache_read_tokens},
                   {"cache_write_tokens", s.usage.cache_write_tokens},
                   {"settled_tokens", s.settled_tokens},
                   {"estimated_cost_usd", std::round(s.cost_usd * 1e4) / 1e4},
                   {"tokens_per_minute_quota", s.tokens_per_minute},
                   {"requests_per_minute_quota", s.requests_per_minute},
                   {"limits_source", s.limits_source},
                   {"tpm_utilization_percent", std::round(s.tpm_utilization * 1000) / 10},
                   {"rpm_utilization_percent", std::round(s.rpm_utilization * 1000) / 10},
                   {"throttles", s.throttles},
                   {"throttles_per_1000_requests",
                    s.requests > 0 ? std::round(1e4 * static_cast<double>(s.throttles) /
                                                static_cast<double>(s.requests)) /
                                         10
                                   : 0.0},
                   {"wall_seconds", std::round(ToSeconds(s.wall) * 10) / 10},
                   {"bottleneck", s.bottleneck},
                   {"deadline_policy", std::move(policy)},
                   {"interrupted", s.interrupted}};
  if (s.deadline) {
    out["deadline_seconds"] = ToSeconds(*s.deadline);
    out["deadline_met"] = s.deadline_met;
  }
  return out;
}

std::string SummaryText(const batch::BatchSummary& s, const std::string& model) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out += fmt::format("  {:<20} {}\n", key, value);
  };
  out += fmt::format("quotaflow batch: {}\n",
                     s.interrupted ? "interrupted (rerun to resume)" : "finished");
  line("documents", fmt::format("{} ({} succeeded, {} failed, {} pending)", s.documents,
                                s.succeeded, s.failed, s.pending));
  for (const auto& [reason, n] : s.failures) line("  failed", fmt::format("{} × {}", n, reason));
  line("model", model);
  for (const auto& [target, n] : s.served_by)
    line("  served by", fmt::format("{} × {}", n, target));
  line("tokens",
       fmt::format("{} in, {} out{}, {} settled against TPM",
                   FormatNumber(static_cast<double>(s.usage.input_tokens)),
                   FormatNumber(static_cast<double>(s.usage.output_tokens)),
                   s.usage.cache_read_tokens > 0
                       ? fmt::format(", {} read from the prompt cache",
                                     FormatNumber(static_cast<double>(s.usage.cache_read_tokens)))
                       : "",
                   FormatNumber(static_cast<double>(s.settled_tokens))));
  line("estimated cost", fmt::format("${:.4f}", s.cost_usd));
  line("quota",
       fmt::format("{} tokens/min{} ({})", FormatNumber(static_cast<double>(s.tokens_per_minute)),
                   s.requests_per_minute > 0
                       ? fmt::format(", {} requests/min",
                                     FormatNumber(static_cast<double>(s.requests_per_minute)))
                       : "",
                   s.limits_source));
  line("achieved", fmt::format("{:.1f}% of the TPM quota{}", 100 * s.tpm_utilization,
                               s.requests_per_minute > 0
                                   ? fmt::format(", {:.1f}% of RPM", 100 * s.rpm_utilization)
                                   : ""));
  line("throttles", fmt::format("{} ({:.1f} per 1,000 requests)", s.throttles,
                                s.requests > 0 ? 1000.0 * static_cast<double>(s.throttles) /
                                                     static_cast<double>(s.requests)
                                               : 0.0));
  line("wall time", MinutesSeconds(s.wall));
  line("bottleneck", s.bottleneck);
  if (s.deadline) {
    line("deadline",
         fmt::format("{} ({})", MinutesSeconds(*s.deadline), s.deadline_met ? "met" : "missed"));
  }
  for (const std::string& step : s.policy) line("deadline policy", step);
  return out;
}

// The Service Quotas client's transport for an in-process emulator (AwsSession serves the rest).
struct EmulatorControlPlane {
  EmulatorControlPlane() : loop(SystemClock()) {
    loop.Start();
    http = std::make_unique<aws::HttpClient>(loop);
  }
  ~EmulatorControlPlane() {
    http.reset();
    loop.Stop();
  }
  EmulatorControlPlane(const EmulatorControlPlane&) = delete;
  EmulatorControlPlane& operator=(const EmulatorControlPlane&) = delete;

  aws::EventLoop loop;
  std::unique_ptr<aws::HttpClient> http;
};

Status MakeParentDirectories(const std::filesystem::path& file) {
  const std::filesystem::path parent = file.parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return tl::unexpected(
        Error::Io(fmt::format("cannot create directory {}: {}", parent.string(), ec.message())));
  }
  return {};
}

// A private temporary directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() = default;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Where a copy of the ledger at `state` (with its write-ahead log) is, or where a new one goes.
  Result<std::filesystem::path> CopyOf(const std::filesystem::path& state) {
    std::string dir =
        (std::filesystem::temp_directory_path() / "quotaflow-dry-run-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) {
      return tl::unexpected(Error::Io(
          fmt::format("cannot create {}: {}", dir, std::generic_category().message(errno))));
    }
    path_ = dir;
    const std::filesystem::path copy = path_ / "run.db";
    for (const char* suffix : {"", "-wal"}) {
      const std::filesystem::path from = state.string() + suffix;
      std::error_code ec;
      if (!std::filesystem::exists(from, ec)) continue;
      std::filesystem::copy_file(from, copy.string() + suffix, ec);
      if (ec) {
        return tl::unexpected(
            Error::Io(fmt::format("cannot copy {}: {}", from.string(), ec.message())));
      }
    }
    return copy;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace

// The client of `region` in `made`, created by `make` on first use; null when it cannot be made
// (the engine then falls back to what it can infer). Called under the engine's resolve lock.
template <typename T, typename Make>
T* MadeOnce(std::map<std::string, std::unique_ptr<T>>& made, const std::string& region,
            const Make& make) {
  auto& client = made[region];
  if (!client && make) {
    if (auto created = make(region)) client = std::move(*created);
  }
  return client.get();
}

Result<double> ParseShare(std::string_view text) {
  std::string t(text);
  const bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(t, &used);
    if (used != t.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return tl::unexpected(Error::InvalidArgument(
        fmt::format("--quota-share: '{}' is not a share like 60% or 0.6", text)));
  }
  if (percent) value /= 100;
  if (!(value > 0 && value <= 1)) {
    return tl::unexpected(
        Error::InvalidArgument(fmt::format("--quota-share: {} is outside (0%, 100%]", text)));
  }
  return value;
}

int RunBatch(const BatchFlags& flags) {
  // ---- Flags, prompts, inputs: everything that can be wrong before anything is sent.
  if (flags.max_tokens < 1 || flags.min_max_tokens < 1) {
    return Fail(kCommand, Error::InvalidArgument("--max-tokens and --min-max-tokens must be >= 1"));
  }
  auto format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kCommand, format.error());
  auto prompts = LoadPrompts(flags);
  if (!prompts) return Fail(kCommand, prompts.error());
  auto rules = batch::PriorityRules::Parse(flags.priority_rules);
  if (!rules) return Fail(kCommand, rules.error());
  std::optional<Duration> deadline;
  if (!flags.deadline.empty()) {
    auto d = ParseDuration(flags.deadline);
    if (!d) return Fail(kCommand, Error::InvalidArgument("--deadline: " + d.error().message));
    deadline = *d;
  }
  Duration progress_every = std::chrono::seconds(5);
  if (!flags.progress_every.empty()) {
    auto d = ParseDuration(flags.progress_every);
    if (!d) return Fail(kCommand, Error::InvalidArgument("--progress-every: " + d.error().message));
    progress_every = *d;
  }
  double share = 1.0;
  if (!flags.quota_share.empty()) {
    auto parsed = ParseShare(flags.quota_share);
    if (!parsed) return Fail(kCommand, parsed.error());
    share = *parsed;
  }
  // Application inference profiles are looked up once the client runs (GetInferenceProfile).
  // A route's name is checked against the route config once it is loaded.
  const bool application_profile =
      flags.model.find(":application-inference-profile/") != std::string::npos;
  auto resolved = bedrock::ModelCatalog::Default().Resolve(flags.model);
  if (!resolved && !application_profile && flags.route.empty()) {
    return Fail(kCommand, Error::InvalidArgument(fmt::format(
                              "--model {}: {} (`quotaflow quotas list` shows the models)",
                              flags.model, resolved.error().message)));
  }
  auto inputs = batch::CollectInputs(flags.inputs);
  if (!inputs) return Fail(kCommand, inputs.error());
  if (inputs->documents.empty()) {
    std::string why;
    for (const batch::InputProblem& p : inputs->problems) {
      why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", p.id, p.reason);
    }
    return Fail(kCommand, Error::InvalidArgument("no documents to process: " + why));
  }

  // Before the emulator and the client start their threads: a thread that did not block SIGINT
  // would receive it and die of it, skipping the drain (see SignalWatcher).
  const sigset_t shutdown_signals = BlockShutdownSignals();

  // ---- Where requests go: an in-process emulator, or AWS as the AWS CLI would find it.
  std::unique_ptr<emulator::Emulator> emulated;
  std::unique_ptr<EmulatorControlPlane> control;
  std::unique_ptr<AwsSession> session;
  std::unique_ptr<aws::StaticCredentialsProvider> emulator_credentials;
  std::unique_ptr<bedrock::ServiceQuotasClient> service_quotas;
  std::unique_ptr<bedrock::InferenceProfilesClient> profiles;
  // Service Quotas and inference profiles of the other regions a route's targets are in, made on
  // first use by `make_regional`.
  std::map<std::string, std::unique_ptr<bedrock::ServiceQuotasClient>> regional_quotas;
  std::map<std::string, std::unique_ptr<bedrock::InferenceProfilesClient>> regional_profiles;
  std::function<Result<std::unique_ptr<bedrock::ServiceQuotasClient>>(const std::string&)>
      make_regional_quotas;
  std::function<Result<std::unique_ptr<bedrock::InferenceProfilesClient>>(const std::string&)>
      make_regional_profiles;
  ClientOptions options;
  if (!flags.route.empty()) {
    auto routes = LoadRouteConfig(flags.route);
    if (!routes) return Fail(kCommand, routes.error());
    options.routes = std::move(*routes);
  }
  if (!flags.route.empty() && !resolved && !application_profile &&
      !options.routes.routes.contains(flags.model)) {
    return Fail(kCommand,
                Error::InvalidArgument(fmt::format(
                    "--model {}: neither a route of {} nor a model id", flags.model, flags.route)));
  }
  if (!flags.request_class.empty() && !options.routes.classes.contains(flags.request_class)) {
    return Fail(kCommand,
                Error::InvalidArgument(fmt::format("--class {}: no [class.{}] in the route config",
                                                   flags.request_class, flags.request_class)));
  }
  Duration period = std::chrono::minutes(1);
  if (!flags.emulate.empty()) {
    auto config = emulator::LoadEmulatorConfig(flags.emulate);
    if (!config) return Fail(kCommand, config.error());
    config->server.port = 0;
    config->server.address = "127.0.0.1";
    period = config->quotas.books.period;
    emulated = std::make_unique<emulator::Emulator>(*config);
    if (Status started = emulated->Start(); !started) return Fail(kCommand, started.error());
    emulator_credentials = std::make_unique<aws::StaticCredentialsProvider>(
        aws::Credentials{config->auth.credentials.at(0).access_key_id,
                         config->auth.credentials.at(0).secret_access_key, ""});
    control = std::make_unique<EmulatorControlPlane>();
    bedrock::ServiceQuotasClientOptions sqo;
    sqo.endpoint = emulated->endpoint();
    sqo.region = flags.aws.region.empty() ? config->auth.default_region : flags.aws.region;
    sqo.credentials = emulator_credentials.get();
    auto sq = bedrock::ServiceQuotasClient::Create(*control->http, sqo);
    if (!sq) return Fail(kCommand, sq.error());
    service_quotas = std::move(*sq);
    auto ip = bedrock::InferenceProfilesClient::Create(*control->http, sqo);
    if (!ip) return Fail(kCommand, ip.error());
    profiles = std::move(*ip);
    make_regional_quotas = [&control, sqo](const std::string& region) {
      bedrock::ServiceQuotasClientOptions o = sqo;
      o.region = region;
      return bedrock::ServiceQuotasClient::Create(*control->http, o);
    };
    make_regional_profiles = [&control, sqo](const std::string& region) {
      bedrock::ServiceQuotasClientOptions o = sqo;
      o.region = region;
      return bedrock::InferenceProfilesClient::Create(*control->http, o);
    };
    options.endpoint = emulated->endpoint();
    options.region = sqo.region;
    options.credentials = emulator_credentials.get();
  } else {
    auto opened = AwsSession::Open(flags.aws);
    if (!opened) return Fail(kCommand, opened.error());
    session = std::move(*opened);
    auto endpoint = session->EndpointFor(aws::Service::kBedrockRuntime);
    if (!endpoint) return Fail(kCommand, endpoint.error());
    options.endpoint = endpoint->url;
    options.region = endpoint->signing_region;
    options.credentials = session->credentials();
    if (session->max_attempts()) options.attempts = *session->max_attempts();
  }
  if (!flags.period.empty()) {
    auto d = ParseDuration(flags.period);
    if (!d) return Fail(kCommand, Error::InvalidArgument("--period: " + d.error().message));
    period = *d;
  }
  if (session) {
    if (auto sq = session->ServiceQuotas()) service_quotas = std::move(*sq);
    if (auto ip = session->InferenceProfiles()) profiles = std::move(*ip);
    make_regional_quotas = [&session](const std::string& region) {
      return session->ServiceQuotas(region);
    };
    make_regional_profiles = [&session](const std::string& region) {
      return session->InferenceProfiles(region);
    };
  }
  options.service_quotas_for = [&regional_quotas, &make_regional_quotas](
                                   const std::string& region) -> bedrock::ServiceQuotasClient* {
    return MadeOnce(regional_quotas, region, make_regional_quotas);
  };
  options.inference_profiles_for =
      [&regional_profiles,
       &make_regional_profiles](const std::string& region) -> bedrock::InferenceProfilesClient* {
    return MadeOnce(regional_profiles, region, make_regional_profiles);
  };
  options.service_quotas = service_quotas.get();
  options.inference_profiles = profiles.get();
  options.period = period;
  options.quota_share = share;
  if (flags.tpm > 0 || flags.rpm > 0 || flags.concurrency > 0) {
    ModelLimits limits;
    limits.tokens_per_minute = flags.tpm;
    limits.requests_per_minute = flags.rpm;
    limits.max_concurrency = flags.concurrency;
    if (flags.tpm == 0) {
      return Fail(kCommand,
                  Error::InvalidArgument("--rpm and --concurrency need --tpm too (or neither, to "
                                         "discover the quotas)"));
    }
    options.limits[flags.model] = limits;
  }
  auto client = Client::Create(std::move(options));
  if (!client) return Fail(kCommand, client.error());

  // ---- Preflight: the model's limits, and one free CountTokens call that proves the endpoint
  // answers and the credentials are accepted, before any document changes state.
  auto limits = (*client)->Limits(flags.model);
  if (!limits && limits.error().code == ErrorCode::kNotFound) {
    return Fail(kCommand,
                Error::InvalidArgument("--model " + flags.model + ": " + limits.error().message));
  }
  if (!limits) return Fail(kCommand, limits.error());
  if (!flags.dry_run) {
    auto counted = (*client)->CountTokens(
        flags.model, R"({"messages":[{"role":"user","content":[{"text":"ping"}]}]})");
    if (!counted && (counted.error().code == ErrorCode::kAuth ||
                     counted.error().code == ErrorCode::kUnavailable ||
                     counted.error().code == ErrorCode::kNotFound)) {
      Error error = counted.error();
      error.message = fmt::format("cannot use {} at {}: {}", flags.model,
                                  (*client)->options().endpoint, counted.error().ToString());
      return Fail(kCommand, error);
    }
  }

  // ---- The ledger: a rerun with the same --state resumes.
  // A dry run works on a throwaway copy: it must not create or change the run's state.
  ScratchDir scratch;
  std::filesystem::path state_path = flags.state;
  if (flags.dry_run) {
    auto copy = scratch.CopyOf(flags.state);
    if (!copy) return Fail(kCommand, copy.error());
    state_path = *copy;
  } else {
    for (const std::string& file : {flags.state, flags.out}) {
      if (Status made = MakeParentDirectories(file); !made) return Fail(kCommand, made.error());
    }
  }
  auto ledger = batch::Ledger::Open(state_path);
  if (!ledger) return Fail(kCommand, ledger.error());
  auto info = (*ledger)->GetRunInfo();
  if (!info) return Fail(kCommand, info.error());
  if (*info && (*info)->model != flags.model) {
    return Fail(kCommand, Error::InvalidArgument(fmt::format(
                              "{} belongs to a run with model {}; use that model to resume it, "
                              "or another --state for a new run",
                              flags.state, (*info)->model)));
  }
  batch::RunInfo run_info;
  run_info.model = flags.model;
  run_info.tokens_per_minute = limits->tokens_per_minute;
  run_info.requests_per_minute = limits->requests_per_minute;
  run_info.tokens_per_day = limits->tokens_per_day;
  run_info.period_ms = std::chrono::duration_cast<std::chrono::milliseconds>(period).count();
  run_info.quota_share = share;
  run_info.limits_source = limits->source;
  run_info.started_at_ms = *info ? (*info)->started_at_ms
                                 : std::chrono::duration_cast<std::chrono::milliseconds>(
                                       SystemClock().WallNow().time_since_epoch())
                                       .count();
  if (!flags.dry_run) {
    if (Status s = (*ledger)->SetRunInfo(run_info); !s) return Fail(kCommand, s.error());
  }

  batch::BatchOptions bo;
  bo.model_id = flags.model;
  bo.prompts = std::move(*prompts);
  bo.max_tokens = flags.max_tokens;
  bo.min_max_tokens = flags.min_max_tokens;
  bo.invoke_model = flags.invoke_model;
  bo.document_blocks = flags.document_blocks;
  bo.cache_prompt = flags.cache_prompt;
  bo.split_long = !flags.no_split;
  bo.deadline = deadline;
  bo.expected_output = flags.expected_output;
  bo.retry_failed = flags.retry_failed;
  bo.request_class = flags.request_class;
  batch::BatchRun run(**client, **ledger, std::move(bo));
  if (Status s = run.AddInputs(*inputs, *rules); !s) return Fail(kCommand, s.error());

  if (flags.dry_run) {
    auto e = run.Estimate();
    if (!e) return Fail(kCommand, e.error());
    json::object out{{"model", flags.model},
                     {"documents", e->documents},
                     {"requests", e->requests},
                     {"input_tokens", e->input_tokens},
                     {"input_counted_documents", e->counted_documents},
                     {"expected_output_tokens", e->output_tokens},
                     {"settled_tokens", e->settled_tokens},
                     {"estimated_cost_usd", std::round(e->cost_usd * 1e4) / 1e4},
                     {"estimated_seconds", std::round(ToSeconds(e->duration) * 10) / 10},
                     {"tokens_per_minute_quota", limits->tokens_per_minute},
                     {"requests_per_minute_quota", limits->requests_per_minute},
                     {"quota_share", share},
                     {"limits_source", limits->source},
                     {"bottleneck", e->bottleneck}};
    if (*format == OutputFormat::kJson) {
      std::cout << PrettyJson(out);
    } else {
      std::cout << fmt::format(
          "quotaflow batch --dry-run: no model request sent\n"
          "  documents            {} pending ({} requests)\n"
          "  input tokens         ~{} ({})\n"
          "  output tokens        ~{} (expected)\n"
          "  estimated cost       ${:.4f}\n"
          "  expected time        {} at {} tokens/min{} ({}; bottleneck {})\n",
          e->documents, e->requests, FormatNumber(static_cast<double>(e->input_tokens)),
          e->counted_documents > 0
              ? fmt::format("estimated, scaled by CountTokens on {} documents",
                            e->counted_documents)
              : "estimated from characters: CountTokens does not count for this model",
          FormatNumber(static_cast<double>(e->output_tokens)), e->cost_usd,
          MinutesSeconds(e->duration), FormatNumber(static_cast<double>(limits->tokens_per_minute)),
          share < 1 ? fmt::format(" × {:.0f}%", share * 100) : "", limits->source, e->bottleneck);
    }
    return kExitOk;
  }

  ProgressPrinter printer(flags.quiet);
  Result<batch::BatchSummary> summary;
  {
    SignalWatcher watcher(run, shutdown_signals);
    summary = run.Run([&printer](const batch::BatchProgress& p) { printer(p); },
                      printer.tty() ? std::chrono::milliseconds(250) : progress_every);
  }
  printer.Finish();
  // The output file is written from the ledger whatever happened, so it always matches it.
  if (Status s = (*ledger)->ExportJsonl(flags.out); !s) return Fail(kCommand, s.error());
  if (!summary) return Fail(kCommand, summary.error());
  if (*format == OutputFormat::kJson) {
    std::cout << PrettyJson(SummaryJson(*summary, flags.model));
  } else {
    std::cout << SummaryText(*summary, flags.model);
  }
  if (summary->interrupted) return kExitInterrupted;
  if (summary->failed > 0 || summary->pending > 0) return kExitDocumentsFailed;
  return kExitOk;
}

}  // namespace quotaflow::cli
