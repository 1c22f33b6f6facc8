// The `quotaflow` command. This is the one file that sees CLI11 (STYLE.md): it maps each
// subcommand's flags onto that command's plain struct (<name>_command.h) and runs it. Adding a
// subcommand = a <name>_command.h/.cc pair and one Add<Name>Command function here.

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/alarms_command.h"
#include "cli/analyze_command.h"
#include "cli/aws_session.h"
#include "cli/batch_command.h"
#include "cli/command.h"
#include "cli/emulate_command.h"
#include "cli/monitor_command.h"
#include "cli/quotas_command.h"
#include "cli/report_command.h"
#include "emulator/config.h"

#ifndef QUOTAFLOW_VERSION
#error "QUOTAFLOW_VERSION must be defined (src/cli/CMakeLists.txt passes PROJECT_VERSION)"
#endif

namespace quotaflow::cli {
namespace {

// What the chosen subcommand does once its flags are parsed; returns the exit code.
using Runner = std::function<int()>;

void AddEmulateCommand(CLI::App& app, Runner* runner) {
  // Shared with the callback below, which outlives this function.
  auto flags = std::make_shared<EmulateFlags>();
  CLI::App* command = app.add_subcommand(
      "emulate", "Run a local Amazon Bedrock that throttles the way Bedrock does");
  command->footer(
      "Serves bedrock-runtime, inference profiles, Service Quotas and CloudWatch on one port "
      "until SIGINT or SIGTERM, and prints \"listening on http://HOST:PORT\" once it accepts "
      "requests. Flags override the config file. See docs/emulator.md.");
  command
      ->add_option("--config", flags->config_file,
                   "TOML config file (docs/emulator.example.toml shows every key)")
      ->type_name("FILE");
  command
      ->add_option_function<std::string>(
          "--address", [flags](const std::string& address) { flags->address = address; },
          "address to listen on (default 127.0.0.1)")
      ->type_name("ADDRESS");
  command
      ->add_option_function<int>(
          "--port", [flags](const int& port) { flags->port = static_cast<uint16_t>(port); },
          "TCP port (default 8970); 0 = any free port, printed at start")
      ->type_name("N")
      ->check(CLI::Range(0, 65535));
  command
      ->add_option_function<uint64_t>(
          "--seed", [flags](const uint64_t& seed) { flags->seed = seed; },
          "seed for generated text, output lengths, jitter and faults (default 1)")
      ->type_name("N");
  command
      ->add_option_function<int>(
          "--threads", [flags](const int& threads) { flags->threads = threads; },
          "I/O threads (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, emulator::kMaxServerThreads));
  command
      ->add_option_function<std::string>(
          "--mode", [flags](const std::string& mode) { flags->mode = mode; },
          "how a period's quota is counted: token_bucket (default), fixed_window or "
          "sliding_window")
      ->type_name("MODE");
  command
      ->add_option_function<std::string>(
          "--period", [flags](const std::string& period) { flags->period = period; },
          "the quota period (default 1m; e.g. 6s runs a minute of quota in 6 seconds)")
      ->type_name("DURATION");
  command->add_flag("--no-latency", flags->no_latency,
                    "answer at once: time to first token, per-token time and jitter all 0");
  command->callback([flags, runner] { *runner = [flags] { return RunEmulate(*flags); }; });
}

// --profile, --region, --endpoint-url: the AWS CLI's names and meaning.
void AddAwsFlags(CLI::App* command, AwsFlags* aws) {
  command->add_option("--profile", aws->profile, "AWS profile (default: AWS_PROFILE, or default)")
      ->type_name("NAME");
  command
      ->add_option("--region", aws->region,
                   "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region)")
      ->type_name("REGION");
  command
      ->add_option("--endpoint-url", aws->endpoint_url,
                   "send every request to this URL (an emulator: http://127.0.0.1:8970)")
      ->type_name("URL");
}

void AddOutputFlag(CLI::App* command, std::string* output,
                   const std::vector<std::string>& formats = {"table", "json", "csv"}) {
  command->add_option("--output", *output, "output format (default table)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember(formats));
}

void AddQuotasCommand(CLI::App& app, Runner* runner) {
  CLI::App* quotas = app.add_subcommand("quotas", "Bedrock quotas from Service Quotas");
  quotas->require_subcommand(1);

  auto list = std::make_shared<QuotasListFlags>();
  CLI::App* list_command = quotas->add_subcommand(
      "list", "Every Bedrock quota (applied over default), or those governing one model id");
  list_command->add_option("--model", list->model, "only the RPM, TPM and TPD quotas of this id")
      ->type_name("ID");
  AddOutputFlag(list_command, &list->output);
  AddAwsFlags(list_command, &list->aws);
  list_command->callback([list, runner] { *runner = [list] { return RunQuotasList(*list); }; });

  auto increase = std::make_shared<QuotasRequestIncreaseFlags>();
  CLI::App* increase_command = quotas->add_subcommand(
      "request-increase", "Ask for a higher quota: a model's TPM, or any quota by code");
  CLI::Option* model =
      increase_command->add_option("--model", increase->model, "model id")->type_name("ID");
  CLI::Option* tpm =
      increase_command->add_option("--tpm", increase->tpm, "the tokens per minute wanted")
          ->type_name("N");
  CLI::Option* code =
      increase_command->add_option("--quota-code", increase->quota_code, "quota code (L-...)")
          ->type_name("CODE");
  CLI::Option* value =
      increase_command->add_option("--value", increase->value, "the value wanted")->type_name("N");
  model->needs(tpm);
  tpm->needs(model);
  code->needs(value);
  value->needs(code);
  model->excludes(code);
  AddOutputFlag(increase_command, &increase->output);
  AddAwsFlags(increase_command, &increase->aws);
  increase_command->callback(
      [increase, runner] { *runner = [increase] { return RunQuotasRequestIncrease(*increase); }; });

  auto requests = std::make_shared<QuotasRequestsFlags>();
  CLI::App* requests_command =
      quotas->add_subcommand("requests", "The quota increase requests and their status");
  requests_command
      ->add_option("--status", requests->status,
                   "only PENDING, CASE_OPENED, APPROVED, DENIED, CASE_CLOSED, NOT_APPROVED or "
                   "INVALID_REQUEST")
      ->type_name("STATUS");
  AddOutputFlag(requests_command, &requests->output);
  AddAwsFlags(requests_command, &requests->aws);
  requests_command->callback(
      [requests, runner] { *runner = [requests] { return RunQuotasRequests(*requests); }; });
}

void AddAnalyzeCommand(CLI::App& app, Runner* runner) {
  auto flags = std::make_shared<AnalyzeFlags>();
  CLI::App* command =
      app.add_subcommand("analyze", "Which quota binds a workload, and what would relieve it");
  command->footer(
      "Quotas come from Service Quotas unless --tpm is given (then nothing is asked of AWS). "
      "See docs/cli.md.");
  command->add_option("--model", flags->model, "model or inference profile id")
      ->type_name("ID")
      ->required();
  CLI::Option* sample =
      command->add_option("--sample", flags->samples, "prompt files; input = their average size")
          ->type_name("FILE")
          ->check(CLI::ExistingFile);
  CLI::Option* avg =
      command->add_option("--avg-input", flags->avg_input, "average input tokens per request")
          ->type_name("N")
          ->check(CLI::NonNegativeNumber);
  sample->excludes(avg);
  command->add_option("--max-tokens", flags->max_tokens, "max_tokens sent (default: none)")
      ->type_name("M");
  command
      ->add_option("--expected-output", flags->expected_output,
                   "output tokens a response really uses (default: max_tokens)")
      ->type_name("K");
  command->add_option("--latency", flags->latency_seconds, "seconds per request (default 0)")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--cache-write", flags->cache_write, "cache write tokens per request")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--tpm", flags->tpm, "TPM quota (skips Service Quotas)")->type_name("N");
  command->add_option("--rpm", flags->rpm, "RPM quota (overrides Service Quotas)")->type_name("N");
  command->add_option("--tpd", flags->tpd, "TPD quota (overrides Service Quotas)")->type_name("N");
  command->add_option("--max-concurrency", flags->max_concurrency, "a client-side concurrency cap")
      ->type_name("N");
  command->add_option("--chart", flags->chart, "draw requests/min against max_tokens (.png/.svg)")
      ->type_name("FILE");
  AddOutputFlag(command, &flags->output, {"table", "json"});
  AddAwsFlags(command, &flags->aws);
  command->callback([flags, runner] { *runner = [flags] { return RunAnalyze(*flags); }; });
}

void AddMonitorCommand(CLI::App& app, Runner* runner) {
  auto flags = std::make_shared<MonitorFlags>();
  CLI::App* command = app.add_subcommand(
      "monitor", "A model's CloudWatch metrics per period, with TPM quota utilization");
  command->add_option("--model", flags->model, "model or inference profile id (ModelId)")
      ->type_name("ID")
      ->required();
  command->add_option("--since", flags->since, "window length (default 24h)")
      ->type_name("DURATION");
  command->add_option("--period", flags->period, "CloudWatch period (default 5m)")
      ->type_name("DURATION");
  command->add_option("--tpm", flags->tpm, "TPM quota (default: from Service Quotas)")
      ->type_name("N");
  command->add_option("--chart", flags->chart, "draw requests and tokens (.png/.svg)")
      ->type_name("FILE");
  command->add_flag("--watch", flags->watch, "redraw every period until Ctrl-C");
  AddOutputFlag(command, &flags->output);
  AddAwsFlags(command, &flags->aws);
  command->callback([flags, runner] { *runner = [flags] { return RunMonitor(*flags); }; });
}

void AddAlarmsCommand(CLI::App& app, Runner* runner) {
  CLI::App* alarms = app.add_subcommand("alarms", "CloudWatch alarms on throttles and TPM usage");
  alarms->require_subcommand(1);

  auto create = std::make_shared<AlarmsCreateFlags>();
  CLI::App* create_command = alarms->add_subcommand(
      "create", "Create (or update) quotaflow-<model>-throttles and quotaflow-<model>-tpm-usage");
  create_command->add_option("--model", create->model, "model or inference profile id")
      ->type_name("ID")
      ->required();
  create_command
      ->add_option("--tpm-threshold", create->tpm_threshold,
                   "alarm at this share of the TPM quota in a minute (default 80%)")
      ->type_name("PERCENT");
  create_command
      ->add_option("--throttle-threshold", create->throttle_threshold,
                   "alarm when a minute has more throttles than this (default 0)")
      ->type_name("N");
  create_command->add_option("--tpm", create->tpm, "TPM quota (default: from Service Quotas)")
      ->type_name("N");
  create_command->add_option("--sns-topic", create->sns_topics, "notify this SNS topic")
      ->type_name("ARN");
  AddOutputFlag(create_command, &create->output);
  AddAwsFlags(create_command, &create->aws);
  create_command->callback(
      [create, runner] { *runner = [create] { return RunAlarmsCreate(*create); }; });

  auto list = std::make_shared<AlarmsListFlags>();
  CLI::App* list_command = alarms->add_subcommand("list", "quotaflow's alarms and their state");
  list_command->add_option("--model", list->model, "only this model's alarms")->type_name("ID");
  AddOutputFlag(list_command, &list->output);
  AddAwsFlags(list_command, &list->aws);
  list_command->callback([list, runner] { *runner = [list] { return RunAlarmsList(*list); }; });

  auto remove = std::make_shared<AlarmsDeleteFlags>();
  CLI::App* delete_command = alarms->add_subcommand("delete", "Delete a model's alarms, or some");
  CLI::Option* model =
      delete_command->add_option("--model", remove->model, "both alarms of this model")
          ->type_name("ID");
  CLI::Option* name =
      delete_command->add_option("--name", remove->names, "an alarm name")->type_name("NAME");
  model->excludes(name);
  AddOutputFlag(delete_command, &remove->output);
  AddAwsFlags(delete_command, &remove->aws);
  delete_command->callback(
      [remove, runner] { *runner = [remove] { return RunAlarmsDelete(*remove); }; });
}

void AddReportCommand(CLI::App& app, Runner* runner) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* command = app.add_subcommand(
      "report", "A batch run's picture from its ledger: throughput against the quota, waits");
  command->footer(
      "Reads the ledger only (it may be drawn while the run goes on). See docs/cli.md.");
  command->add_option("--state", flags->state, "the ledger of a `quotaflow batch` run")
      ->type_name("FILE")
      ->required();
  command
      ->add_option("--chart", flags->chart,
                   "draw throughput, queue by priority and waits (.png/.svg)")
      ->type_name("FILE");
  command
      ->add_option("--bucket", flags->bucket,
                   "throughput bucket (default: the quota period, a minute)")
      ->type_name("DURATION");
  AddOutputFlag(command, &flags->output, {"table", "json"});
  command->callback([flags, runner] { *runner = [flags] { return RunReport(*flags); }; });
}

void AddBatchCommand(CLI::App& app, Runner* runner) {
  auto flags = std::make_shared<BatchFlags>();
  CLI::App* command = app.add_subcommand(
      "batch", "Process documents at the full rate the quotas allow, urgent first, resumably");
  command->footer(
      "Each document's state, result and usage live in the --state ledger (SQLite): rerun the "
      "same command to resume after a crash or Ctrl-C; --out is rewritten from the ledger with "
      "one line per document. Exit codes: 0 all succeeded, 1 could not run (endpoint, "
      "credentials, ledger), 2 bad flags or inputs, 3 some documents failed, 130 interrupted. "
      "See docs/cli.md.");
  command->add_option("inputs", flags->inputs, "files, directories, globs or JSONL manifests")
      ->required()
      ->type_name("INPUT...");
  command->add_option("--model", flags->model, "model id or inference profile")
      ->required()
      ->type_name("ID");
  command
      ->add_option("--prompt", flags->prompt,
                   "prompt template with {document}, {filename}, {metadata.KEY}")
      ->required()
      ->type_name("FILE");
  command
      ->add_option("--prompt-standard", flags->prompt_standard,
                   "shorter prompt the deadline policy may switch to")
      ->type_name("FILE");
  command
      ->add_option("--prompt-minimal", flags->prompt_minimal,
                   "shortest prompt the deadline policy may switch to")
      ->type_name("FILE");
  command
      ->add_option("--priority-rule", flags->priority_rules,
                   "GLOB=PRIORITY or size>N=PRIORITY (high, normal, low); repeatable, first "
                   "match wins")
      ->type_name("RULE");
  command->add_option("--max-tokens", flags->max_tokens, "max_tokens per request (default 1000)")
      ->type_name("N");
  command
      ->add_option("--min-max-tokens", flags->min_max_tokens,
                   "the deadline policy lowers max_tokens no further (default 256)")
      ->type_name("N");
  command->add_option("--out", flags->out, "results, one JSON line per document")
      ->type_name("FILE")
      ->capture_default_str();
  command->add_option("--state", flags->state, "the run's ledger; rerun with it to resume")
      ->type_name("FILE")
      ->capture_default_str();
  AddAwsFlags(command, &flags->aws);
  command
      ->add_option("--deadline", flags->deadline,
                   "finish within this (e.g. 30m); shorter prompts and max_tokens if needed")
      ->type_name("DURATION");
  command->add_flag("--dry-run", flags->dry_run,
                    "estimate tokens, cost and time from the quotas; send nothing");
  command->add_flag("--quiet", flags->quiet, "no progress on stderr");
  AddOutputFlag(command, &flags->output, {"table", "json"});
  command->add_option("--tpm", flags->tpm, "tokens per minute to pace to (default: discovered)")
      ->type_name("N");
  command->add_option("--rpm", flags->rpm, "requests per minute to pace to")->type_name("N");
  command->add_option("--concurrency", flags->concurrency, "requests in flight at most")
      ->type_name("N");
  command
      ->add_option("--quota-share", flags->quota_share,
                   "use only this share of the account quota (e.g. 60%)")
      ->type_name("SHARE");
  command
      ->add_option("--period", flags->period,
                   "the endpoint's quota period (default 1m; an emulator's --period)")
      ->type_name("DURATION");
  command
      ->add_option("--emulate", flags->emulate,
                   "start an in-process emulator with this config and run against it")
      ->type_name("CONFIG.toml");
  command
      ->add_option("--route", flags->route,
                   "route config (TOML): --model then names a route over several regions, "
                   "profiles or models")
      ->type_name("ROUTES.toml");
  command
      ->add_option("--class", flags->request_class,
                   "the documents' request class: a residency rule of the route config")
      ->type_name("NAME");
  command->add_flag("--invoke-model", flags->invoke_model,
                    "InvokeModel with the model's native body instead of Converse");
  command->add_flag("--document-blocks", flags->document_blocks,
                    "send PDF, DOCX, HTML, Markdown... as Converse document blocks");
  command->add_flag("--cache-prompt", flags->cache_prompt,
                    "put the shared instructions before a cachePoint (prompt caching)");
  command->add_flag("--no-split", flags->no_split,
                    "fail documents beyond the context window instead of splitting them");
  command->add_flag("--retry-failed", flags->retry_failed,
                    "try the documents an earlier run failed again");
  command
      ->add_option("--expected-output", flags->expected_output,
                   "output tokens per request, for estimates (default: what the ledger saw, "
                   "else max_tokens / 2)")
      ->type_name("N");
  command
      ->add_option("--progress-every", flags->progress_every,
                   "progress line interval off a terminal (default 5s)")
      ->type_name("DURATION");
  command->callback([flags, runner] { *runner = [flags] { return RunBatch(*flags); }; });
}

int Main(int argc, char** argv) {
  CLI::App app("quotaflow: run LLM workloads on Amazon Bedrock at the full rate your quotas allow",
               "quotaflow");
  app.set_version_flag("--version", "quotaflow " QUOTAFLOW_VERSION);
  app.require_subcommand(1);
  Runner runner;
  AddEmulateCommand(app, &runner);
  AddQuotasCommand(app, &runner);
  AddAnalyzeCommand(app, &runner);
  AddMonitorCommand(app, &runner);
  AddAlarmsCommand(app, &runner);
  AddReportCommand(app, &runner);
  AddBatchCommand(app, &runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0; CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "quotaflow: " << e.what() << " (see quotaflow --help)" << std::endl;
    return kExitUsage;
  }
  return runner();
}

}  // namespace
}  // namespace quotaflow::cli

int main(int argc, char** argv) { return quotaflow::cli::Main(argc, argv); }
