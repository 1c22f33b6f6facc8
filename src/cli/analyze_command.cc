#include "cli/analyze_command.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <utility>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/quotas_command.h"
#include "quotaflow/token_estimator.h"
#include "report/analysis.h"
#include "report/chart.h"

namespace quotaflow::cli {
namespace {

constexpr std::string_view kAnalyze = "analyze";

// The family heuristic's average over the sample files, rounded up.
Result<int64_t> EstimateInputTokens(const bedrock::ModelInfo& model,
                                    const std::vector<std::string>& samples) {
  int64_t total = 0;
  for (const std::string& path : samples) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return tl::unexpected(Error::InvalidArgument(fmt::format("--sample: cannot read {}", path)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    total += CalibratingTokenEstimator::Heuristic(model.family, text.str());
  }
  const auto count = static_cast<int64_t>(samples.size());
  return (total + count - 1) / count;
}

Result<report::Quotas> QuotasFor(const AnalyzeFlags& flags, const bedrock::ResolvedModel& model) {
  report::Quotas quotas;
  quotas.max_concurrency = flags.max_concurrency;
  if (flags.tpm) {
    quotas.tokens_per_minute = *flags.tpm;
  } else {
    Result<std::unique_ptr<AwsSession>> session = AwsSession::Open(flags.aws);
    if (!session) return tl::unexpected(std::move(session).error());
    Result<bedrock::ModelQuotas> matched = DiscoverModelQuotas(**session, model);
    if (!matched) return tl::unexpected(std::move(matched).error());
    if (!matched->tpm) {
      return tl::unexpected(
          Error::NotFound(fmt::format("no tokens-per-minute quota found for {} ({}); pass --tpm",
                                      flags.model, matched->reason)));
    }
    quotas.tokens_per_minute = std::llround(matched->tpm->EffectiveValue());
    // A listed value of 0 is a quota Bedrock does not enforce (RPM, for newer accounts).
    if (matched->rpm && matched->rpm->EffectiveValue() > 0) {
      quotas.requests_per_minute = std::llround(matched->rpm->EffectiveValue());
    }
    if (matched->tpd && matched->tpd->EffectiveValue() > 0) {
      quotas.tokens_per_day = std::llround(matched->tpd->EffectiveValue());
    }
  }
  if (flags.rpm) quotas.requests_per_minute = *flags.rpm;
  if (flags.tpd) quotas.tokens_per_day = *flags.tpd;
  return quotas;
}

}  // namespace

int RunAnalyze(const AnalyzeFlags& flags) {
  if (flags.output != "table" && flags.output != "json") {
    return Fail(kAnalyze,
                Error::InvalidArgument(fmt::format(
                    "--output: unknown format '{}' (expected table or json)", flags.output)));
  }
  if (flags.samples.empty() == !flags.avg_input.has_value()) {
    return Fail(kAnalyze, Error::InvalidArgument("give either --sample FILE... or --avg-input N"));
  }
  if (!flags.chart.empty()) {
    Result<report::ImageFormat> image = report::ImageFormatForPath(flags.chart);
    if (!image) return Fail(kAnalyze, Error::InvalidArgument("--chart: " + image.error().message));
  }
  Result<bedrock::ResolvedModel> model = ResolveModelFlag(flags.model);
  if (!model) return Fail(kAnalyze, model.error());

  report::Workload workload;
  if (flags.avg_input) {
    workload.input_tokens = *flags.avg_input;
  } else {
    Result<int64_t> estimated = EstimateInputTokens(*model->model, flags.samples);
    if (!estimated) return Fail(kAnalyze, estimated.error());
    workload.input_tokens = *estimated;
  }
  workload.cache_write_tokens = flags.cache_write;
  workload.max_tokens = flags.max_tokens;
  workload.expected_output_tokens = flags.expected_output.value_or(
      bedrock::ReservedOutputTokens(*model->model, flags.max_tokens));
  workload.latency_seconds = flags.latency_seconds;

  Result<report::Quotas> quotas = QuotasFor(flags, *model);
  if (!quotas) return Fail(kAnalyze, quotas.error());

  Result<report::Analysis> analysis = report::Analyze(*quotas, *model->model, workload);
  if (!analysis) return Fail(kAnalyze, analysis.error());
  analysis->model_id = flags.model;

  if (flags.output == "json") {
    std::cout << PrettyJson(report::AnalysisToJson(*analysis)) << std::flush;
  } else {
    std::cout << report::RenderAnalysisTable(*analysis) << std::flush;
  }
  if (!flags.chart.empty()) {
    Status drawn = report::Render(report::MaxTokensChart(*analysis), flags.chart);
    if (!drawn) return Fail(kAnalyze, drawn.error());
    std::cerr << "quotaflow analyze: chart written to " << flags.chart << '\n';
  }
  return kExitOk;
}

}  // namespace quotaflow::cli
