#pragma once
// `quotaflow analyze`: which quota binds a workload and what would relieve it (report/analysis.h),
// with the model's quotas from Service Quotas or from --tpm/--rpm/--tpd, and input tokens from
// --avg-input or estimated from sample prompts.

#include <optional>
#include <string>
#include <vector>

#include "cli/aws_session.h"

namespace quotaflow::cli {

struct AnalyzeFlags {
  AwsFlags aws;
  std::string model;                 // --model, required
  std::vector<std::string> samples;  // --sample FILE...: prompts whose average size is the input
  std::optional<int64_t> avg_input;  // --avg-input N; exactly one of samples and avg_input
  std::optional<int64_t> max_tokens;
  // What a response really uses; default: max_tokens (the model's default when that is absent):
  // the worst case.
  std::optional<int64_t> expected_output;
  double latency_seconds = 0;
  int64_t cache_write = 0;
  // Quotas: --tpm given = offline, nothing asked of AWS; otherwise discovered from Service Quotas,
  // with --rpm / --tpd overriding what was found.
  std::optional<int64_t> tpm;
  std::optional<int64_t> rpm;
  std::optional<int64_t> tpd;
  std::optional<int64_t> max_concurrency;
  std::string output = "table";  // table or json
  std::string chart;             // --chart FILE.png|.svg; empty = none
};

// Exit codes (command.h): 2 for bad flags, an unknown model or an unreadable sample file; 1 when
// AWS fails, the model's quotas cannot be found, or the chart cannot be written.
int RunAnalyze(const AnalyzeFlags& flags);

}  // namespace quotaflow::cli
