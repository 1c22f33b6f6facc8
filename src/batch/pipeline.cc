#include "batch/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <set>

#include "batch/chunker.h"
#include "bedrock/base64.h"
#include "bedrock/model_catalog.h"
#include "quotaflow/token_estimator.h"

namespace quotaflow::batch {
namespace json = boost::json;

namespace {

// The chunk budget leaves this share of the context window for the prompt's instructions and
// the estimate's error.
constexpr double kChunkShareOfContext = 0.6;
// Documents a dry run counts with CountTokens to calibrate its estimate, at most.
constexpr size_t kCalibrationSample = 16;

int64_t UnixMs(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Converse allows letters, digits, whitespace (not repeated), hyphens, parentheses and square
// brackets in a document's name.
std::string DocumentName(std::string_view path) {
  std::string_view base = path.substr(path.find_last_of('/') + 1);
  std::string name;
  for (char c : base) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '(' ||
                    c == ')' || c == '[' || c == ']';
    if (ok) {
      name += c;
    } else if (!name.empty() && name.back() != ' ') {
      name += ' ';
    }
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name.empty() ? "document" : name;
}

// The family's native InvokeModel body for one user prompt.
json::object NativeBody(ModelFamily family, const std::string& prompt, int64_t max_tokens) {
  switch (family) {
    case ModelFamily::kAnthropic:
      return {{"anthropic_version", "bedrock-2023-05-31"},
              {"max_tokens", max_tokens},
              {"messages",
               json::array{json::object{
                   {"role", "user"},
                   {"content", json::array{json::object{{"type", "text"}, {"text", prompt}}}}}}}};
    case ModelFamily::kAmazonNova:
      return {{"messages",
               json::array{json::object{{"role", "user"},
                                        {"content", json::array{json::object{{"text", prompt}}}}}}},
              {"inferenceConfig", json::object{{"max_new_tokens", max_tokens}}}};
    case ModelFamily::kAmazonTitan:
      return {{"inputText", prompt},
              {"textGenerationConfig", json::object{{"maxTokenCount", max_tokens}}}};
    case ModelFamily::kMetaLlama:
      return {{"prompt", prompt}, {"max_gen_len", max_tokens}};
    case ModelFamily::kMistral:
      return {{"prompt", "<s>[INST] " + prompt + " [/INST]"}, {"max_tokens", max_tokens}};
    case ModelFamily::kCohere:
      return {{"message", prompt}, {"max_tokens", max_tokens}};
    case ModelFamily::kAi21:
    case ModelFamily::kOther:
      break;
  }
  return {{"messages", json::array{json::object{{"role", "user"}, {"content", prompt}}}},
          {"max_tokens", max_tokens}};
}

// The category a failure is counted under in the summary (the ledger and the output keep the
// whole reason): "input: binary file", "model: ValidationException (HTTP 400)", "too long for the
// model's context window".
std::string ReasonCategory(std::string_view reason) {
  std::string_view r = reason.substr(0, reason.find('\n'));
  if (r.starts_with("too long for ")) return "too long for the model's context window";
  if (r.starts_with("input: ")) return std::string(r.substr(0, r.find(" (")));
  if (r.starts_with("model: ")) {
    const size_t colon = r.find(": ", 7);
    if (colon != std::string_view::npos) return std::string(r.substr(0, colon));
  }
  return std::string(r.substr(0, 80));
}

std::string Strip(std::string_view message, std::string_view prefix) {
  if (!prefix.empty() && message.starts_with(prefix) &&
      message.substr(prefix.size()).starts_with(": ")) {
    return std::string(message.substr(prefix.size() + 2));
  }
  return std::string(message);
}

}  // namespace

// One request to make: a whole document, a chunk of one, or the reduce over its chunks.
struct BatchRun::Job {
  enum class Kind : uint8_t { kWhole, kChunk, kReduce };
  Kind kind = Kind::kWhole;
  std::string doc_id;
  std::string source;  // the path, or the id of an inline document ({filename})
  int priority = kPriorityNormal;
  const Document* doc = nullptr;
  int chunk = 0;            // kChunk: index
  int chunk_count = 0;      // kChunk and kReduce
  std::string text;         // kChunk: the chunk; kReduce: the joined results
  int64_t text_tokens = 0;  // heuristic tokens of `text` or the document
  bool as_block = false;    // sent as a Converse document block
  int attempts = 0;
  int throttles = 0;
  std::string variant;
  int64_t max_tokens = 0;
  int64_t estimated_settled = 0;  // while outstanding
  int64_t queued_at_ms = 0;
};

// State shared between Run's thread and the client's callbacks.
struct BatchRun::Shared {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> ready;  // sorted by (priority desc, id) when fed
  bool ready_sorted = false;
  std::set<std::string> marked_running;  // documents MarkRunning'd in this run
  int64_t outstanding = 0;               // submitted to the client, not yet answered
  int64_t outstanding_settled = 0;       // their estimated settled tokens
  int64_t unfed_text_tokens = 0;         // of the jobs in `ready`
  int64_t unfed_requests = 0;
  // Documents with chunks in progress: chunks done so far this run.
  std::map<std::string, int> chunks_left;
  // Counters of this run.
  int64_t total = 0, done = 0, failed = 0, throttles = 0, requests = 0;
  Usage usage;
  int64_t settled = 0;
  bool stopping = false;
  bool stop_requested = false;
  size_t variant = 0;
  int64_t max_tokens = 0;
  std::vector<std::string> policy;
  Status fatal;  // a ledger write failed: stop
  SteadyTime started{};
};

BatchRun::BatchRun(Client& client, Ledger& ledger, BatchOptions options, const Clock& clock)
    : client_(client),
      ledger_(ledger),
      options_(std::move(options)),
      clock_(clock),
      reduce_prompt_(PromptTemplate::Parse(DefaultReducePrompt()).value()),
      shared_(std::make_unique<Shared>()) {
  shared_->max_tokens = options_.max_tokens;
}

BatchRun::~BatchRun() = default;

Status BatchRun::ResolveModel() {
  if (model_ != nullptr) return {};
  auto model = client_.Model(options_.model_id);
  if (!model) return tl::unexpected(std::move(model).error());
  model_ = *model;
  return {};
}

Status BatchRun::AddInputs(const CollectedInputs& inputs, const PriorityRules& rules) {
  std::vector<NewDocument> docs;
  docs.reserve(inputs.documents.size() + inputs.problems.size());
  for (const Document& d : inputs.documents) {
    NewDocument n;
    n.id = d.id;
    n.source = d.path;
    n.priority = d.priority ? *d.priority : rules.PriorityOf(d);
    n.priority = std::clamp(n.priority, kPriorityLow, kPriorityHigh);
    json::object metadata;
    for (const auto& [k, v] : d.metadata) metadata[k] = v;
    n.metadata_json = json::serialize(metadata);
    docs.push_back(std::move(n));
    inputs_.emplace(d.id, d);
  }
  for (const InputProblem& p : inputs.problems) {
    NewDocument n;
    n.id = p.id;
    n.source = p.path;
    n.failed_reason = "input: " + p.reason;
    docs.push_back(std::move(n));
  }
  auto added = ledger_.AddDocuments(docs);
  if (!added) return tl::unexpected(std::move(added).error());
  return {};
}

int64_t BatchRun::ExpectedOutput() const {
  if (options_.expected_output > 0) return options_.expected_output;
  auto done = ledger_.Documents(DocState::kDone);
  if (done && !done->empty()) {
    int64_t sum = 0;
    for (const DocumentRecord& r : *done) sum += r.usage.output;
    return std::max<int64_t>(1, sum / static_cast<int64_t>(done->size()));
  }
  return std::max<int64_t>(1, options_.max_tokens / 2);
}

Duration BatchRun::EstimateDuration(int64_t settled_tokens, int64_t requests) const {
  auto limits = client_.Limits(options_.model_id);
  if (!limits) return Duration::zero();
  const double share = client_.options().quota_share;
  const double period = static_cast<double>(client_.options().period.count());
  double periods = 0;
  if (limits->tokens_per_minute > 0) {
    periods = std::max(periods, static_cast<double>(settled_tokens) /
                                    (static_cast<double>(limits->tokens_per_minute) * share));
  }
  if (limits->requests_per_minute > 0) {
    periods = std::max(periods, static_cast<double>(requests) /
                                    (static_cast<double>(limits->requests_per_minute) * share));
  }
  return Duration(static_cast<int64_t>(periods * period));
}

Result<BatchRun::Job> BatchRun::MakeJob(const DocumentRecord& record) {
  Job job;
  job.doc_id = record.id;
  job.source = record.source.empty() ? record.id : record.source;
  job.priority = record.priority;
  auto it = inputs_.find(record.id);
  if (it == inputs_.end()) {
    return tl::unexpected(Error::NotFound("no longer among the inputs"));
  }
  job.doc = &it->second;
  const DocumentFormat format = FormatOf(job.doc->path);
  job.as_block = options_.document_blocks && !options_.invoke_model &&
                 format != DocumentFormat::kText && !job.doc->path.empty();
  if (job.as_block) {
    // Estimated from the size here; Bedrock's CountTokens does not count documents.
    job.text_tokens = std::max<int64_t>(1, job.doc->size_bytes / 6);
    return job;
  }
  auto content = ReadDocument(*job.doc, /*as_text=*/true);
  if (!content) {
    return tl::unexpected(Error::InvalidArgument(
        "input: " +
        Strip(content.error().message, job.doc->path.empty() ? record.id : job.doc->path)));
  }
  job.text_tokens = CalibratingTokenEstimator::Heuristic(model_->family, content->bytes);
  return job;
}

Result<std::vector<BatchRun::Job>> BatchRun::Plan(bool for_estimate) {
  auto pending = ledger_.Documents(DocState::kPending);
  if (!pending) return tl::unexpected(std::move(pending).error());
  if (options_.retry_failed) {
    auto failed = ledger_.Documents(DocState::kFailed);
    if (!failed) return tl::unexpected(std::move(failed).error());
    for (DocumentRecord& r : *failed) {
      if (r.reason.starts_with("input: ") && !inputs_.contains(r.id)) continue;
      if (!for_estimate) {
        if (Status retried = ledger_.Retry(r.id); !retried) return tl::unexpected(retried.error());
      }
      pending->push_back(std::move(r));
    }
  }
  const int64_t window = model_->context_window;
  const int64_t chunk_budget =
      static_cast<int64_t>(static_cast<double>(window) * kChunkShareOfContext) -
      options_.max_tokens;
  std::vector<Job> jobs;
  for (const DocumentRecord& r : *pending) {
    auto job = MakeJob(r);
    if (!job) {
      if (for_estimate) continue;
      // No longer among the inputs: kept pending for a run that names it again.
      if (job.error().code == ErrorCode::kNotFound) continue;
      if (Status s = ledger_.MarkFailed(r.id, job.error().message, 0, UnixMs(clock_.WallNow()));
          !s) {
        return tl::unexpected(s.error());
      }
      ++shared_->failed;
      continue;
    }
    const int64_t needed = job->text_tokens + options_.max_tokens;
    if (job->as_block || needed <= static_cast<int64_t>(static_cast<double>(window) * 0.9)) {
      jobs.push_back(std::move(*job));
      continue;
    }
    if (!options_.split_long || chunk_budget < 256) {
      std::string reason = fmt::format(
          "too long for {}: ~{} tokens with max_tokens {} > its context window of {} (use "
          "splitting, or a model with a larger window)",
          options_.model_id, job->text_tokens, options_.max_tokens, window);
      if (!for_estimate) {
        if (Status s = ledger_.MarkFailed(r.id, reason, 0, UnixMs(clock_.WallNow())); !s) {
          return tl::unexpected(s.error());
        }
        ++shared_->failed;
      }
      continue;
    }
    // Split: one job per chunk not yet saved; the reduce follows once all are.
    auto content = ReadDocument(*job->doc);
    if (!content) return tl::unexpected(content.error());
    const ModelFamily family = model_->family;
    std::vector<std::string> chunks = SplitAtParagraphs(
        content->bytes, chunk_budget,
        [family](std::string_view t) { return CalibratingTokenEstimator::Heuristic(family, t); });
    auto saved = ledger_.Chunks(r.id);
    if (!saved) return tl::unexpected(saved.error());
    std::set<int> have;
    for (const ChunkRecord& c : *saved) have.insert(c.index);
    const int count = static_cast<int>(chunks.size());
    int left = 0;
    for (int i = 0; i < count; ++i) {
      if (have.contains(i)) continue;
      Job c = *job;
      c.kind = Job::Kind::kChunk;
      c.chunk = i;
      c.chunk_count = count;
      c.text = std::move(chunks[static_cast<size_t>(i)]);
      c.text_tokens = CalibratingTokenEstimator::Heuristic(family, c.text);
      jobs.push_back(std::move(c));
      ++left;
    }
    Job reduce = *job;
    reduce.kind = Job::Kind::kReduce;
    reduce.chunk_count = count;
    reduce.text_tokens = static_cast<int64_t>(count) * ExpectedOutput();
    if (left == 0 || for_estimate) {
      jobs.push_back(std::move(reduce));  // every chunk saved by an earlier run: reduce now
    }
    if (left > 0 && !for_estimate) shared_->chunks_left[r.id] = left;
  }
  return jobs;
}

Result<BatchEstimate> BatchRun::Estimate() {
  if (Status resolved = ResolveModel(); !resolved) return tl::unexpected(resolved.error());
  auto jobs = Plan(/*for_estimate=*/true);
  if (!jobs) return tl::unexpected(std::move(jobs).error());
  BatchEstimate e;
  std::set<std::string> docs;
  const int64_t output = std::min(ExpectedOutput(), options_.max_tokens);
  const auto& prompt = options_.prompts.front().prompt;
  const int64_t fixed =
      CalibratingTokenEstimator::Heuristic(model_->family, std::string(prompt.FixedSize(), 'x'));
  for (const Job& j : *jobs) {
    docs.insert(j.doc_id);
    e.requests += 1;
    e.input_tokens += j.text_tokens + fixed;
    e.output_tokens += output;
  }
  // The heuristic undercounts dense text (numbers, dates, legal punctuation) by 15% or more, more
  // than a dry run may be off in all: scale it by what CountTokens (free, charged against no
  // quota) says of up to kCalibrationSample documents, where the endpoint counts for this model.
  if (!options_.invoke_model && !jobs->empty()) {
    int64_t heuristic = 0;
    int64_t counted = 0;
    const size_t step = (jobs->size() + kCalibrationSample - 1) / kCalibrationSample;
    for (size_t i = 0; i < jobs->size(); i += step) {
      const Job& j = (*jobs)[i];
      if (j.kind != Job::Kind::kWhole || j.as_block) continue;
      auto body = Body(j, 0, options_.max_tokens);
      if (!body) continue;
      auto tokens = client_.CountTokens(options_.model_id, *body);
      if (!tokens) break;  // not counted here: the heuristic alone
      heuristic += j.text_tokens + fixed;
      counted += *tokens;
      ++e.counted_documents;
    }
    if (heuristic > 0 && counted > 0) {
      e.input_tokens =
          static_cast<int64_t>(static_cast<double>(e.input_tokens) * static_cast<double>(counted) /
                               static_cast<double>(heuristic));
    }
  }
  e.documents = static_cast<int64_t>(docs.size());
  e.settled_tokens = e.input_tokens + e.output_tokens * model_->output_burndown;
  e.cost_usd = static_cast<double>(e.input_tokens) / 1000 * model_->price_per_1k_input +
               static_cast<double>(e.output_tokens) / 1000 * model_->price_per_1k_output;
  e.duration = EstimateDuration(e.settled_tokens, e.requests);
  auto limits = client_.Limits(options_.model_id);
  e.bottleneck = "none";
  if (limits && limits->tokens_per_minute > 0) e.bottleneck = "tpm";
  if (limits && limits->requests_per_minute > 0 && limits->tokens_per_minute > 0 &&
      static_cast<double>(e.requests) / static_cast<double>(limits->requests_per_minute) >
          static_cast<double>(e.settled_tokens) / static_cast<double>(limits->tokens_per_minute)) {
    e.bottleneck = "rpm";
  }
  return e;
}

Result<std::string> BatchRun::Body(const Job& job, size_t variant, int64_t max_tokens) const {
  const PromptTemplate& prompt =
      job.kind == Job::Kind::kReduce ? reduce_prompt_ : options_.prompts[variant].prompt;
  TemplateFields fields;
  fields.filename = job.source;
  fields.metadata = job.doc != nullptr ? &job.doc->metadata : nullptr;
  std::string document_bytes;
  if (job.as_block) {
    auto content = ReadDocument(*job.doc, /*as_text=*/false);
    if (!content) return tl::unexpected(content.error());
    document_bytes = std::move(content->bytes);
  } else if (job.kind == Job::Kind::kWhole) {
    auto content = ReadDocument(*job.doc);
    if (!content) return tl::unexpected(content.error());
    fields.document = std::move(content->bytes);
  } else if (job.kind == Job::Kind::kReduce) {
    // The chunks' results, from the ledger: some may have been saved by an earlier run.
    auto chunks = ledger_.Chunks(job.doc_id);
    if (!chunks) return tl::unexpected(chunks.error());
    for (const ChunkRecord& c : *chunks) {
      if (!fields.document.empty()) fields.document += kPartialResultSeparator;
      fields.document += c.result;
    }
  } else {
    fields.document = job.text;
  }
  if (options_.invoke_model) {
    auto text = prompt.Render(fields);
    if (!text) return tl::unexpected(text.error());
    return json::serialize(NativeBody(model_->family, *text, max_tokens));
  }
  json::array content;
  if (options_.cache_prompt && prompt.cacheable()) {
    auto split = prompt.RenderSplit(fields);
    if (!split) return tl::unexpected(split.error());
    content.push_back(json::object{{"text", split->shared_prefix}});
    content.push_back(json::object{{"cachePoint", json::object{{"type", "default"}}}});
    if (!split->rest.empty()) content.push_back(json::object{{"text", split->rest}});
  } else {
    auto text = prompt.Render(fields);
    if (!text) return tl::unexpected(text.error());
    content.push_back(json::object{{"text", *text}});
  }
  if (job.as_block) {
    content.push_back(json::object{
        {"document",
         json::object{
             {"format", ConverseFormatName(FormatOf(job.doc->path))},
             {"name", DocumentName(job.doc->path)},
             {"source", json::object{{"bytes", bedrock::Base64Encode(document_bytes)}}}}}});
  }
  json::object body{
      {"messages", json::array{json::object{{"role", "user"}, {"content", std::move(content)}}}},
      {"inferenceConfig", json::object{{"maxTokens", max_tokens}}}};
  return json::serialize(body);
}

int64_t BatchRun::EstimatedSettled(const Job& job, size_t variant, int64_t max_tokens) const {
  const int64_t fixed =
      job.kind == Job::Kind::kReduce ? reduce_fixed_tokens_ : fixed_tokens_[variant];
  return job.text_tokens + fixed + std::min(expected_output_, max_tokens) * model_->output_burndown;
}

void BatchRun::PushReady(Job job) {
  Shared& s = *shared_;  // REQUIRES: s.mu held
  s.unfed_text_tokens += job.text_tokens;
  s.unfed_requests += 1;
  s.ready.push_back(std::move(job));
  s.ready_sorted = false;
}

std::optional<BatchRun::Job> BatchRun::PopReady() {
  Shared& s = *shared_;  // REQUIRES: s.mu held
  if (s.ready.empty()) return std::nullopt;
  if (!s.ready_sorted) {
    std::stable_sort(s.ready.begin(), s.ready.end(), [](const Job& a, const Job& b) {
      if (a.priority != b.priority) return a.priority > b.priority;
      if (a.doc_id != b.doc_id) return a.doc_id < b.doc_id;
      return a.chunk < b.chunk;
    });
    s.ready_sorted = true;
  }
  Job job = std::move(s.ready.front());
  s.ready.pop_front();
  s.unfed_text_tokens -= job.text_tokens;
  s.unfed_requests -= 1;
  return job;
}

void BatchRun::Fail(const Job& job, const std::string& reason, int throttles) {
  Shared& s = *shared_;  // REQUIRES: s.mu held
  s.chunks_left.erase(job.doc_id);
  if (Status st = ledger_.MarkFailed(job.doc_id, reason, throttles, UnixMs(clock_.WallNow()));
      !st) {
    if (s.fatal) s.fatal = st;
    return;
  }
  s.failed += 1;
}

void BatchRun::Feed() {
  const ClientStats stats = client_.Stats();
  int64_t queued = 0;
  int64_t in_flight = 0;
  for (const RouteStats& r : stats.routes) queued += r.queued;
  for (const ModelStats& m : stats.models) in_flight += m.in_flight;
  const int64_t depth = std::max(options_.min_queue_depth, in_flight);
  while (queued < depth) {
    std::optional<Job> job;
    size_t variant = 0;
    int64_t max_tokens = 0;
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->stopping || !shared_->fatal) return;
      job = PopReady();
      variant = shared_->variant;
      max_tokens = shared_->max_tokens;
    }
    if (!job) return;
    Submit(std::move(*job), variant, max_tokens);
    ++queued;
  }
}

void BatchRun::Submit(Job job, size_t variant, int64_t max_tokens) {
  Shared& s = *shared_;
  job.variant = job.kind == Job::Kind::kReduce ? "reduce" : options_.prompts[variant].name;
  job.max_tokens = max_tokens;
  auto body = Body(job, variant, max_tokens);
  if (!body) {
    std::lock_guard lock(s.mu);
    Fail(job, "input: " + body.error().message, 0);
    s.cv.notify_all();
    return;
  }
  ModelRequest request;
  request.api = options_.invoke_model ? Api::kInvokeModel : Api::kConverse;
  request.model_id = options_.model_id;
  request.max_tokens = max_tokens;
  // A document block's input is the client's estimate from the body, calibrated by the usage
  // Bedrock reports: CountTokens does not count documents ("Document input not supported").
  request.body = std::move(*body);
  {
    std::lock_guard lock(s.mu);
    if (!s.marked_running.contains(job.doc_id)) {
      if (Status st = ledger_.MarkRunning(job.doc_id, UnixMs(clock_.WallNow())); !st) {
        if (s.fatal) s.fatal = st;
        return;
      }
      s.marked_running.insert(job.doc_id);
    }
    job.estimated_settled = EstimatedSettled(job, variant, max_tokens);
    s.outstanding += 1;
    s.outstanding_settled += job.estimated_settled;
  }
  SubmitOptions so;
  so.priority = job.priority;
  so.request_class = options_.request_class;
  auto shared_job = std::make_shared<Job>(std::move(job));
  client_.Submit(std::move(request), so, [this, shared_job](RequestResult result) {
    OnResult(shared_job, std::move(result));
  });
}

void BatchRun::OnResult(const std::shared_ptr<Job>& job, RequestResult result) {
  Shared& s = *shared_;
  std::lock_guard lock(s.mu);
  s.outstanding -= 1;
  s.outstanding_settled -= job->estimated_settled;
  s.cv.notify_all();
  if (!result) {
    const RequestFailure& f = result.error();
    s.throttles += f.throttles;
    job->throttles += f.throttles;
    if (f.error.code == ErrorCode::kCancelled) {
      // Drained: the document goes back to pending for a rerun.
      s.chunks_left.erase(job->doc_id);
      if (Status st = ledger_.MarkPending(job->doc_id); !st && s.fatal) s.fatal = st;
      return;
    }
    if (f.charged) s.requests += 1;
    if (f.charged && ++job->attempts < options_.max_document_attempts) {
      PushReady(std::move(*job));  // the stream broke after Bedrock counted it: ask again
      return;
    }
    Fail(*job, "model: " + f.error.ToString(), job->throttles);
    return;
  }
  const ModelResult& r = *result;
  s.requests += 1;
  s.throttles += r.throttles;
  job->throttles += r.throttles;
  s.usage.input_tokens += r.usage.input_tokens;
  s.usage.output_tokens += r.usage.output_tokens;
  s.usage.cache_read_tokens += r.usage.cache_read_tokens;
  s.usage.cache_write_tokens += r.usage.cache_write_tokens;
  s.settled += r.settled_tokens;
  const SteadyTime now = clock_.Now();
  const WallTime wall = clock_.WallNow();
  const TokenUsage usage{.input = r.usage.input_tokens,
                         .output = r.usage.output_tokens,
                         .cache_read = r.usage.cache_read_tokens,
                         .cache_write = r.usage.cache_write_tokens};
  if (job->kind == Job::Kind::kChunk) {
    ChunkRecord chunk{.index = job->chunk,
                      .count = job->chunk_count,
                      .result = r.text,
                      .usage = usage,
                      .settled_tokens = r.settled_tokens};
    if (Status st = ledger_.SaveChunk(job->doc_id, chunk); !st) {
      if (s.fatal) s.fatal = st;
      return;
    }
    auto left = s.chunks_left.find(job->doc_id);
    if (left != s.chunks_left.end() && --left->second == 0) {
      s.chunks_left.erase(left);
      Job reduce = *job;
      reduce.kind = Job::Kind::kReduce;
      reduce.chunk = job->chunk_count;
      reduce.text_tokens = static_cast<int64_t>(job->chunk_count) * expected_output_;
      reduce.attempts = 0;
      PushReady(std::move(reduce));
    }
    return;
  }
  Completion c;
  c.result = r.text;
  c.usage = usage;
  c.settled_tokens = r.settled_tokens;
  c.model = r.target;  // the region and model that served it (a route has several)
  c.prompt_variant = job->variant;
  c.throttles = job->throttles;
  c.started_at_ms = UnixMs(wall - (now - r.started));
  c.finished_at_ms = UnixMs(wall - (now - r.finished));
  c.wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.waited).count();
  if (job->kind == Job::Kind::kReduce) {
    // The document's usage is its chunks' and the reduce's together.
    auto chunks = ledger_.Chunks(job->doc_id);
    if (!chunks) {
      if (s.fatal) s.fatal = tl::unexpected(chunks.error());
      return;
    }
    for (const ChunkRecord& ch : *chunks) {
      c.usage.input += ch.usage.input;
      c.usage.output += ch.usage.output;
      c.usage.cache_read += ch.usage.cache_read;
      c.usage.cache_write += ch.usage.cache_write;
      c.settled_tokens += ch.settled_tokens;
    }
    c.prompt_variant = fmt::format("{} chunks + reduce", chunks->size());
  }
  if (Status st = ledger_.MarkDone(job->doc_id, c); !st) {
    if (s.fatal) s.fatal = st;
    return;
  }
  s.done += 1;
}

void BatchRun::Adapt() {
  if (!options_.deadline) return;
  Shared& s = *shared_;
  std::lock_guard lock(s.mu);
  if (s.ready.empty()) return;
  const Duration left = *options_.deadline - (clock_.Now() - s.started);
  const int64_t requests = s.outstanding + s.unfed_requests;
  auto need = [&](size_t variant, int64_t max_tokens) {
    const int64_t fixed = fixed_tokens_[variant];
    const int64_t unfed =
        s.unfed_text_tokens + s.unfed_requests * fixed +
        s.unfed_requests * std::min(expected_output_, max_tokens) * model_->output_burndown;
    return EstimateDuration(s.outstanding_settled + unfed, requests);
  };
  if (need(s.variant, s.max_tokens) <= left) return;
  const double elapsed = ToSeconds(clock_.Now() - s.started);
  for (size_t v = s.variant + 1; v < options_.prompts.size(); ++v) {
    const Duration needed = need(v, s.max_tokens);
    s.variant = v;
    s.policy.push_back(fmt::format(
        "at {:.1f} s: prompt variant '{}' (estimated {:.0f} s of work left, {:.0f} s to the "
        "deadline)",
        elapsed, options_.prompts[v].name, ToSeconds(needed), ToSeconds(left)));
    if (needed <= left) return;
  }
  while (s.max_tokens / 2 >= options_.min_max_tokens && need(s.variant, s.max_tokens) > left) {
    s.max_tokens /= 2;
    s.policy.push_back(fmt::format(
        "at {:.1f} s: max_tokens {} (estimated {:.0f} s of work left, {:.0f} s to the deadline)",
        elapsed, s.max_tokens, ToSeconds(need(s.variant, s.max_tokens)), ToSeconds(left)));
  }
}

BatchProgress BatchRun::Snapshot() const {
  BatchProgress p;
  const ClientStats stats = client_.Stats();
  ModelLimits limits;
  if (auto resolved = client_.Limits(options_.model_id)) limits = *resolved;
  const SteadyTime now = clock_.Now();
  const Shared& s = *shared_;
  std::lock_guard lock(s.mu);
  p.total = s.total;
  p.done = s.done;
  p.failed = s.failed;
  p.running = s.outstanding;
  p.throttles = s.throttles;
  p.input_tokens = s.usage.input_tokens;
  p.output_tokens = s.usage.output_tokens;
  p.settled_tokens = s.settled;
  p.elapsed = now - s.started;
  p.period = client_.options().period;
  p.variant = options_.prompts[s.variant].name;
  p.max_tokens = s.max_tokens;
  // The quota of the model or route the batch names (a route's: its targets' together).
  const double share = client_.options().quota_share;
  p.tokens_per_minute_quota =
      static_cast<int64_t>(static_cast<double>(limits.tokens_per_minute) * share);
  p.requests_per_minute_quota =
      static_cast<int64_t>(static_cast<double>(limits.requests_per_minute) * share);
  for (const RouteStats& r : stats.routes) {
    if (r.name != options_.model_id) continue;
    // What the client holds drains by drain_eta; what is not fed yet follows at the quota's pace.
    const Duration queued = std::max(Duration::zero(), r.drain_eta - now);
    const int64_t unfed =
        s.unfed_text_tokens +
        s.unfed_requests * (fixed_tokens_.empty() ? 0 : fixed_tokens_[s.variant]) +
        s.unfed_requests * std::min(expected_output_, s.max_tokens) * model_->output_burndown;
    p.eta = queued + EstimateDuration(unfed, s.unfed_requests);
  }
  return p;
}

void BatchRun::RequestStop() {
  std::lock_guard lock(shared_->mu);
  shared_->stop_requested = true;
  shared_->cv.notify_all();
}

Result<BatchSummary> BatchRun::Run(const std::function<void(const BatchProgress&)>& on_progress,
                                   Duration progress_every) {
  if (Status resolved = ResolveModel(); !resolved) return tl::unexpected(resolved.error());
  Shared& s = *shared_;
  s.started = clock_.Now();
  expected_output_ = ExpectedOutput();
  fixed_tokens_.clear();
  for (const PromptVariant& v : options_.prompts) {
    fixed_tokens_.push_back(CalibratingTokenEstimator::Heuristic(
        model_->family, std::string(v.prompt.FixedSize(), 'x')));
  }
  reduce_fixed_tokens_ = CalibratingTokenEstimator::Heuristic(
      model_->family, std::string(reduce_prompt_.FixedSize(), 'x'));
  auto jobs = Plan(/*for_estimate=*/false);
  if (!jobs) return tl::unexpected(std::move(jobs).error());
  {
    std::lock_guard lock(s.mu);
    for (Job& j : *jobs) PushReady(std::move(j));
    auto counts = ledger_.Count();
    if (!counts) return tl::unexpected(std::move(counts).error());
    s.total = counts->total();
    s.done = counts->done;
    s.failed = counts->failed;
  }
  SteadyTime next_progress = s.started + progress_every;
  bool drained = false;
  while (true) {
    bool stop = false;
    {
      std::lock_guard lock(s.mu);
      stop = s.stop_requested && !drained;
    }
    if (stop) {
      drained = true;
      {
        std::lock_guard lock(s.mu);
        s.stopping = true;
      }
      client_.CancelQueued();  // nothing new starts; in flight finishes
    }
    Adapt();
    Feed();
    {
      std::unique_lock lock(s.mu);
      if (!s.fatal) break;
      if ((s.ready.empty() || s.stopping) && s.outstanding == 0) break;
      s.cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (on_progress && clock_.Now() >= next_progress) {
      on_progress(Snapshot());
      next_progress = clock_.Now() + progress_every;
    }
  }
  // Documents this run started but did not finish (a drain, a reduce never fed) are pending again.
  auto running = ledger_.Documents(DocState::kRunning);
  if (!running) return tl::unexpected(std::move(running).error());
  for (const DocumentRecord& r : *running) {
    if (Status st = ledger_.MarkPending(r.id); !st) return tl::unexpected(st.error());
  }
  if (!s.fatal) return tl::unexpected(s.fatal.error());
  return Summarize(drained);
}

Result<BatchSummary> BatchRun::Summarize(bool interrupted) const {
  const Shared& s = *shared_;
  BatchSummary out;
  auto docs = ledger_.Documents();
  if (!docs) return tl::unexpected(std::move(docs).error());
  for (const DocumentRecord& d : *docs) {
    out.documents += 1;
    if (d.state == DocState::kDone) {
      out.succeeded += 1;
      out.served_by[d.model] += 1;
    }
    if (d.state == DocState::kPending || d.state == DocState::kRunning) out.pending += 1;
    if (d.state == DocState::kFailed) {
      out.failed += 1;
      out.failures[ReasonCategory(d.reason)] += 1;
    }
  }
  const ClientStats stats = client_.Stats();
  std::lock_guard lock(s.mu);
  out.usage = s.usage;
  out.settled_tokens = s.settled;
  out.requests = s.requests;
  out.throttles = s.throttles;
  out.cost_usd = static_cast<double>(s.usage.input_tokens + s.usage.cache_write_tokens) / 1000 *
                     model_->price_per_1k_input +
                 static_cast<double>(s.usage.output_tokens) / 1000 * model_->price_per_1k_output;
  out.wall = clock_.Now() - s.started;
  out.period = client_.options().period;
  out.policy = s.policy;
  out.deadline = options_.deadline;
  out.interrupted = interrupted;
  out.deadline_met =
      !options_.deadline || (!interrupted && out.pending == 0 && out.wall <= *options_.deadline);
  ModelLimits limits;
  if (auto resolved = client_.Limits(options_.model_id)) limits = *resolved;
  const double share = client_.options().quota_share;
  out.limits_source = limits.source;
  out.tokens_per_minute = limits.tokens_per_minute;
  out.requests_per_minute = limits.requests_per_minute;
  const double periods = ToSeconds(out.wall) / ToSeconds(out.period);
  if (periods > 0 && limits.tokens_per_minute > 0) {
    out.tpm_utilization = static_cast<double>(s.settled) / periods /
                          (static_cast<double>(limits.tokens_per_minute) * share);
  }
  if (periods > 0 && limits.requests_per_minute > 0) {
    out.rpm_utilization = static_cast<double>(s.requests) / periods /
                          (static_cast<double>(limits.requests_per_minute) * share);
  }
  // The dimension the limiters waited on most; but a quota used at less than half its rate did
  // not bind (the limiter starts empty, so a short run always waits a little).
  std::array<int64_t, kDimensionCount> blocked{};
  for (const ModelStats& m : stats.models) {
    for (size_t d = 0; d < blocked.size(); ++d) blocked[d] += m.limiter.blocked_by[d];
  }
  int64_t most = 0;
  Dimension binding = Dimension::kNone;
  for (size_t d = 0; d < blocked.size(); ++d) {
    if (blocked[d] > most) {
      most = blocked[d];
      binding = static_cast<Dimension>(d);
    }
  }
  const bool underused = (binding == Dimension::kTokens && out.tpm_utilization < 0.5) ||
                         (binding == Dimension::kRequests && out.rpm_utilization < 0.5);
  out.bottleneck = binding == Dimension::kNone || underused ? "none (the quota was not the limit)"
                                                            : std::string(DimensionName(binding));
  return out;
}

}  // namespace quotaflow::batch
