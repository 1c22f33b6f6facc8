#pragma once
// The batch pipeline: documents in the ledger → prompts → quotaflow::Client → results in the
// ledger. The ledger is the truth: a document is done only once its result is committed there, in
// the transaction that marks it done, and the output file is written from it. So a run killed at
// any point resumes from the ledger with nothing lost and nothing completed twice.
//
// Documents are fed to the client in priority order (then id), keeping its queue deep enough that
// the limiter never waits for work but shallow enough that the deadline policy still decides the
// prompt of most documents. A document beyond the model's context window is split at paragraph
// boundaries; each chunk's result is saved on its own, then a reduce request combines them.
//
// Deadline policy ("load-aware token use"): when the estimated finish (what the client still holds
// plus what is not yet fed, at the quota's rate) would miss --deadline, the documents fed from then
// on use the next shorter prompt variant (full → standard → minimal), and once at the shortest,
// half the max_tokens (never below min_max_tokens). It never steps back up. The summary says what
// it did.
//
// Thread safety: Run on one thread; Snapshot from any thread; RequestStop from any thread (a
// signal handler's watcher).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "batch/inputs.h"
#include "batch/ledger.h"
#include "batch/priority_rules.h"
#include "batch/prompt_template.h"
#include "quotaflow/client.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {
struct ModelInfo;
}

namespace quotaflow::batch {

struct PromptVariant {
  std::string name;  // "full", "standard", "minimal"
  PromptTemplate prompt;
};

struct BatchOptions {
  std::string model_id;
  // Non-empty: [0] is the full prompt, each later one shorter.
  std::vector<PromptVariant> prompts;
  int64_t max_tokens = 1'000;
  // The deadline policy lowers max_tokens no further than this.
  int64_t min_max_tokens = 256;
  // InvokeModel with the model family's native body, instead of Converse.
  bool invoke_model = false;
  // PDF, DOCX, DOC, XLS(X), CSV, HTML and Markdown files go as Converse document blocks (input
  // counted with CountTokens) instead of being inlined as text.
  bool document_blocks = false;
  // The instructions before {document} go before a cachePoint (Converse only).
  bool cache_prompt = false;
  // A document beyond the context window is split and reduced; false = it fails, saying so.
  bool split_long = true;
  // For the whole run, from Run's start. Empty = none.
  std::optional<Duration> deadline;
  // A request the server charged before it broke (a cut stream) is resubmitted this many times.
  int max_document_attempts = 3;
  // Output tokens per request for estimates; 0 = the mean the ledger has seen, else half of
  // max_tokens.
  int64_t expected_output = 0;
  // Failed documents of an earlier run are tried again.
  bool retry_failed = false;
  // Every document's request class (a route config's residency class); empty = none.
  std::string request_class;
  // Documents fed ahead of the client's starts: at least this many queued in the client.
  int64_t min_queue_depth = 64;
};

// What a batch would take, from the quotas: the dry run, and the deadline policy's yardstick.
struct BatchEstimate {
  int64_t documents = 0;
  int64_t requests = 0;  // chunks and reduce requests included
  int64_t input_tokens = 0;
  // Documents CountTokens counted to scale the character heuristic; 0 when the endpoint does not
  // count for the model (Bedrock counts for a few Claude models only): the heuristic alone.
  int64_t counted_documents = 0;
  int64_t output_tokens = 0;   // expected
  int64_t settled_tokens = 0;  // input + output × burndown, what TPM meters
  double cost_usd = 0;
  Duration duration{};     // at the quota's pace
  std::string bottleneck;  // "tpm", "rpm" or "none"
};

struct BatchProgress {
  int64_t total = 0;
  int64_t done = 0;
  int64_t failed = 0;
  int64_t running = 0;  // fed to the client, not finished
  int64_t throttles = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t settled_tokens = 0;
  int64_t tokens_per_minute_quota = 0;  // after the quota share
  int64_t requests_per_minute_quota = 0;
  Duration elapsed{};
  Duration period{};
  std::optional<Duration> eta;  // from the scheduler and the unfed estimate
  std::string variant;          // the prompt variant now fed
  int64_t max_tokens = 0;       // the max_tokens now fed
};

struct BatchSummary {
  int64_t documents = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t pending = 0;  // left for a rerun (drained, or no longer among the inputs)
  std::map<std::string, int64_t> failures;   // reason (first line) → count
  std::map<std::string, int64_t> served_by;  // target ("region/model") → documents done there
  Usage usage;                               // this run's
  int64_t settled_tokens = 0;
  int64_t requests = 0;  // this run's requests to the model
  int64_t throttles = 0;
  double cost_usd = 0;
  Duration wall{};
  Duration period{};
  double tpm_utilization = 0;  // settled tokens per period over the run ÷ the (shared) quota
  double rpm_utilization = 0;  // 0 when RPM is not enforced
  std::string bottleneck;      // the dimension the limiter waited on most
  std::string limits_source;
  int64_t tokens_per_minute = 0;
  int64_t requests_per_minute = 0;
  std::vector<std::string> policy;  // the deadline policy's steps, in order
  std::optional<Duration> deadline;
  bool deadline_met = true;
  bool interrupted = false;
};

class BatchRun {
 public:
  // REQUIRES: `client`, `ledger` and `clock` outlive the run; options.prompts non-empty.
  BatchRun(Client& client, Ledger& ledger, BatchOptions options,
           const Clock& clock = SystemClock());
  ~BatchRun();
  BatchRun(const BatchRun&) = delete;
  BatchRun& operator=(const BatchRun&) = delete;

  // Records the collected documents in the ledger (a rerun adds only new ids); problems are
  // recorded as failed documents with their reason. Keeps the inputs to read the documents from.
  Status AddInputs(const CollectedInputs& inputs, const PriorityRules& rules);

  // What the pending documents would take at the quota's pace. No model request is sent; the
  // input estimate is calibrated by CountTokens (free, not metered against any quota) on up to 16
  // documents, where the endpoint counts for the model, else left to the family heuristic.
  Result<BatchEstimate> Estimate();

  // Processes every pending document (and failed ones with retry_failed) until each is done or
  // failed, or RequestStop drains the run: nothing new starts, what is in flight finishes, the rest
  // stays pending for a rerun. `on_progress` is called on this thread every `progress_every`.
  Result<BatchSummary> Run(const std::function<void(const BatchProgress&)>& on_progress,
                           Duration progress_every);
  void RequestStop();

  BatchProgress Snapshot() const;

 private:
  struct Job;
  struct Shared;

  // model_ from the client (an application profile stands for the model it copies).
  Status ResolveModel();
  Result<std::vector<Job>> Plan(bool for_estimate);
  Result<Job> MakeJob(const DocumentRecord& record);
  Result<std::string> Body(const Job& job, size_t variant, int64_t max_tokens) const;
  int64_t ExpectedOutput() const;
  int64_t EstimatedSettled(const Job& job, size_t variant, int64_t max_tokens) const;
  Duration EstimateDuration(int64_t settled_tokens, int64_t requests) const;
  // Feeding the client. PushReady, PopReady and Fail REQUIRE shared_->mu held.
  void PushReady(Job job);
  std::optional<Job> PopReady();
  void Fail(const Job& job, const std::string& reason, int throttles);
  void Feed();
  void Submit(Job job, size_t variant, int64_t max_tokens);
  // On the client's loop thread: the ledger write that makes a result durable.
  void OnResult(const std::shared_ptr<Job>& job, RequestResult result);
  void Adapt();
  Result<BatchSummary> Summarize(bool interrupted) const;

  Client& client_;
  Ledger& ledger_;
  BatchOptions options_;
  const Clock& clock_;
  const bedrock::ModelInfo* model_ = nullptr;
  PromptTemplate reduce_prompt_;
  std::map<std::string, Document> inputs_;  // by id
  // Fixed per run (set at Run's start).
  int64_t expected_output_ = 0;
  std::vector<int64_t> fixed_tokens_;  // per prompt variant: the prompt without the document
  int64_t reduce_fixed_tokens_ = 0;
  std::unique_ptr<Shared> shared_;
};

}  // namespace quotaflow::batch
