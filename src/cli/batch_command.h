#pragma once
// `quotaflow batch INPUT... --model ID --prompt FILE`: process documents at the highest rate the
// quotas allow, urgent ones first, with a durable ledger (--state) that a rerun resumes from, and
// one output line per document (--out) written from it. See docs/cli.md, "quotaflow batch".
//
// Exit codes:
//   0    every document succeeded
//   1    the run could not start or stopped on an error: endpoint unreachable, credentials
//        rejected, the ledger unusable (documents stay pending: rerun when fixed)
//   2    bad flags, prompt files or inputs (no documents at all, an unknown model, a ledger
//        that belongs to another model)
//   3    the run finished but some documents failed (the summary says why; --retry-failed)
//   130  interrupted (SIGINT/SIGTERM): in-flight requests finished, the rest stays pending

#include <cstdint>
#include <string>
#include <vector>

#include "cli/aws_session.h"

namespace quotaflow::cli {

inline constexpr int kExitDocumentsFailed = 3;
inline constexpr int kExitInterrupted = 130;

struct BatchFlags {
  std::vector<std::string> inputs;
  std::string model;
  std::string prompt;           // the full prompt template
  std::string prompt_standard;  // shorter variants for the deadline policy; empty = none
  std::string prompt_minimal;
  std::vector<std::string> priority_rules;
  int64_t max_tokens = 1'000;
  int64_t min_max_tokens = 256;
  std::string out = "results.jsonl";
  std::string state = "quotaflow-batch.db";
  AwsFlags aws;
  std::string deadline;  // DURATION; empty = none
  bool dry_run = false;
  bool quiet = false;
  std::string output = "table";  // the summary: table or json
  // Limits (explicit config wins over discovery); 0 = not given.
  int64_t tpm = 0;
  int64_t rpm = 0;
  int64_t concurrency = 0;
  std::string quota_share;    // "60%" or "0.6"; empty = 100%
  std::string period;         // the endpoint's quota period; empty = a minute (or the emulator's)
  std::string emulate;        // an emulator config: start one in-process and run against it
  std::string route;          // a route config (routes.h): --model then names a route
  std::string request_class;  // --class: a residency class of the route config, for every document
  bool invoke_model = false;
  bool document_blocks = false;
  bool cache_prompt = false;
  bool no_split = false;
  bool retry_failed = false;
  int64_t expected_output = 0;
  std::string progress_every;  // DURATION between progress lines off a terminal; default 5s
};

int RunBatch(const BatchFlags& flags);

// "60%" → 0.6, "0.6" → 0.6; kInvalidArgument outside (0, 1].
Result<double> ParseShare(std::string_view text);

}  // namespace quotaflow::cli
