#pragma once
// The ledger: the durable state of a `quotaflow batch` run, in one SQLite file (WAL). Each
// document's state (pending, running, done, failed and why), its attempts, result and usage; the
// chunks of split documents; one row describing the run. The output file is written from here.
//
// Durability: every call that changes a document commits before it returns, with WAL and
// synchronous=NORMAL, which survives the death of the process (kill -9) but not necessarily the
// loss of power. What a killed run leaves is resumed by the next Open of the same file: documents
// it left `running` go back to `pending` (attempts kept), done documents stay done, so a rerun
// loses no document and completes none twice.
//
//   Result<std::unique_ptr<Ledger>> opened = Ledger::Open("run.db");
//   if (!opened) return opened.error();
//   Ledger& ledger = **opened;
//   ledger.AddDocuments(docs);                              // a rerun adds nothing twice
//   Result<std::vector<DocumentRecord>> todo = ledger.Documents(DocState::kPending);
//   ... ledger.MarkRunning(id, now_ms); ... ledger.MarkDone(id, completion);
//   ledger.ExportJsonl("out.jsonl");                        // temporary file, fsync, rename
//
// Errors are values: kIo names the file and carries SQLite's message (kIo with retryable set when
// another process kept the database locked past the busy timeout); kNotFound for an unknown
// document id; kInvalidArgument for a transition the document's state does not allow.
//
// Thread safety: every method may be called from any thread; one connection is shared, guarded by
// a mutex, so calls run one at a time. A Ledger must not be carried across fork(): a child process
// opens its own.
//
// Crash testing: with QUOTAFLOW_CRASH_AT set, the process SIGKILLs itself at a chosen point of a
// write, where a kill timed from outside cannot be made to land (src/cli/batch_command_test.cc):
//   done:N   the Nth MarkDone of the process, after its UPDATE, before its COMMIT
//   chunk:N  the Nth SaveChunk, after its INSERT (the chunk saved, its document still running)
//   export   the first ExportJsonl, halfway through writing the temporary file
// Read once per process; any other non-empty value aborts. Never set it outside tests.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace quotaflow::batch {

enum class DocState : uint8_t { kPending, kRunning, kDone, kFailed };
// "pending", "running", "done", "failed": also how the ledger file stores the state.
std::string_view DocStateName(DocState s);

struct TokenUsage {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_write = 0;
};

// A document as the inputs produced it, to be added to the ledger.
struct NewDocument {
  std::string id;      // stable key across runs (manifest id, or the path as collected); not empty
  std::string source;  // file path; empty for inline manifest text
  int priority = 1;    // 0 low, 1 normal, 2 high
  std::string metadata_json = "{}";  // a JSON object
  // Non-empty: the input was unusable (binary, empty, missing) -> inserted as failed, this reason.
  std::string failed_reason;
};

struct DocumentRecord {
  std::string id;
  std::string source;
  std::string metadata_json;
  int priority = 1;
  DocState state = DocState::kPending;
  int attempts = 0;    // times the document was started (MarkRunning)
  std::string reason;  // why it failed
  std::string result;  // the model's output text
  TokenUsage usage;
  // What the request finally cost against TPM (input + cache_write + output × burndown).
  int64_t settled_tokens = 0;
  std::string model;           // the model id that served it
  std::string prompt_variant;  // "full", "standard", "minimal"
  int throttles = 0;           // 429s seen for this document, over all its attempts
  // Unix ms, 0 = not yet. [queued_at, started_at) is the time the document waited in the
  // scheduler's queue (see MarkRunning and MarkDone).
  int64_t queued_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t wait_ms = 0;  // time spent waiting in the scheduler's queue before its start
};

// One row: what the run was, for resuming checks, the summary and `report`.
struct RunInfo {
  std::string model;
  int64_t tokens_per_minute = 0;
  int64_t requests_per_minute = 0;
  int64_t tokens_per_day = 0;
  int64_t period_ms = 60000;  // the quota period (tests use short ones)
  double quota_share = 1.0;
  std::string limits_source;  // "config", "service-quotas", "default"
  int64_t started_at_ms = 0;
  std::string options_json = "{}";  // the flags that shape results (prompt hash, max tokens...)
};

// A chunk of a split document: chunk `index` of `count`.
struct ChunkRecord {
  int index = 0;
  int count = 0;
  std::string result;
  TokenUsage usage;
  int64_t settled_tokens = 0;
};

// What MarkDone records.
struct Completion {
  std::string result;
  TokenUsage usage;
  int64_t settled_tokens = 0;
  std::string model;
  std::string prompt_variant;
  int throttles = 0;          // 429s of this attempt not already recorded with AddThrottles
  int64_t started_at_ms = 0;  // when the request was granted and sent; 0 keeps MarkRunning's time
  int64_t finished_at_ms = 0;
  int64_t wait_ms = 0;  // time in the scheduler's queue before started_at_ms; 0: see MarkDone
};

struct Counts {
  int64_t pending = 0;
  int64_t running = 0;
  int64_t done = 0;
  int64_t failed = 0;
  int64_t total() const { return pending + running + done + failed; }
};

class Ledger {
 public:
  // Creates the file or opens it; the schema is versioned (PRAGMA user_version), the journal WAL.
  // Documents a killed run left `running` go back to `pending` (attempts kept, queued and started
  // times cleared): that is the resume. kIo for a file that is not a SQLite database, is not a
  // ledger, or comes from a newer quotaflow (a higher schema version), naming the file.
  static Result<std::unique_ptr<Ledger>> Open(const std::filesystem::path& path);
  // Opens an existing ledger to read it (`quotaflow report`), possibly while a run writes it:
  // nothing is created, migrated or resumed, and every write fails with kIo. kNotFound when there
  // is no file at `path`.
  static Result<std::unique_ptr<Ledger>> OpenReadOnly(const std::filesystem::path& path);

  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  ~Ledger();

  Status SetRunInfo(const RunInfo& info);  // inserts or replaces the one row
  Result<std::optional<RunInfo>> GetRunInfo() const;

  // Inserts each document that is not there yet, in one transaction; existing ids keep their state
  // (a rerun adds nothing twice). Returns how many were new. kInvalidArgument, naming the document,
  // for an empty id, a priority outside 0..2 or metadata that is not a JSON object; nothing is
  // inserted then.
  Result<int64_t> AddDocuments(std::span<const NewDocument> docs);
  // Ordered by id (byte order).
  Result<std::vector<DocumentRecord>> Documents(std::optional<DocState> only = std::nullopt) const;
  Result<std::optional<DocumentRecord>> Find(std::string_view id) const;

  // pending -> running: attempts + 1; queued_at_ms and started_at_ms are set to `started_at_ms`
  // (the document entered the scheduler's queue), finished_at_ms and wait_ms cleared.
  // kInvalidArgument from any other state.
  Status MarkRunning(std::string_view id, int64_t started_at_ms);
  // running|pending -> done with result and usage, in one transaction. A document already done is
  // left as it is and the call returns kInvalidArgument ("already done"): never completed twice. A
  // failed document is refused the same way. Throttles are added to the document's count. Timing,
  // so that the queue interval and the wait always agree: started_at_ms is the completion's (else
  // MarkRunning's); with a positive wait_ms, queued_at_ms becomes started_at_ms - wait_ms,
  // otherwise MarkRunning's time stays queued_at_ms and wait_ms = started_at_ms - queued_at_ms.
  Status MarkDone(std::string_view id, const Completion& c);
  // pending|running|failed -> failed with `reason`; throttles are added to the count. A done
  // document is refused (kInvalidArgument).
  Status MarkFailed(std::string_view id, std::string_view reason, int throttles,
                    int64_t finished_at_ms);
  // running -> pending (a drained or requeued document), its queued and started times cleared; a
  // pending document stays pending. kInvalidArgument for a done or failed one.
  Status MarkPending(std::string_view id);
  // Adds n (>= 0) to the document's throttle count, whatever its state.
  // failed -> pending, the reason cleared: for a rerun with --retry-failed.
  Status Retry(std::string_view id);
  Status AddThrottles(std::string_view id, int n);

  // A chunk of a split document, durable on its own, so a killed run redoes only unfinished
  // chunks. Idempotent per (id, index): the first saved copy of a chunk stays. kNotFound for an
  // unknown document; kInvalidArgument unless 0 <= index < count.
  Status SaveChunk(std::string_view id, const ChunkRecord& chunk);
  Result<std::vector<ChunkRecord>> Chunks(std::string_view id) const;  // ordered by index

  Result<Counts> Count() const;

  // Writes every document, ordered by id, one JSON line each, to `out` via a temporary file in the
  // same directory, fsync, rename (and an fsync of the directory): a kill never leaves a
  // half-written output, and an existing `out` is replaced whole. Line:
  // {"id":..,"source":..,"status":"done|failed|pending","priority":"high|normal|low","attempts":n,
  //  "model":..,"prompt_variant":..,"result":..(done only),"error":..(failed only),
  //  "usage":{"input_tokens":..,"output_tokens":..,"cache_read_tokens":..,"cache_write_tokens":..},
  //  "metadata":{..}}
  // A running document is written as "pending"; an empty source, model or prompt_variant as null.
  Status ExportJsonl(const std::filesystem::path& out) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;
  class Query;
  class Transaction;

  Ledger(std::filesystem::path path, sqlite3* db);
  static Result<std::unique_ptr<Ledger>> OpenWith(const std::filesystem::path& path,
                                                  bool read_only);

  // kIo: "ledger <path>: <what>: <sqlite's message>". REQUIRES: mu_ held.
  Error SqlError(std::string_view what) const;
  // The cached statement for `sql` (a string literal: cached by address). REQUIRES: mu_ held.
  Result<sqlite3_stmt*> Prepare(const char* sql) const;
  // Column 0 of the first row of a one-off statement, as text ("" without a row).
  // REQUIRES: mu_ held.
  Result<std::string> ScalarText(const char* sql) const;
  Status Exec(const char* sql) const;  // statements without results; REQUIRES: mu_ held
  Status InitSchema();                 // REQUIRES: mu_ held (or not yet shared)
  Status Resume();                     // running -> pending; REQUIRES: as InitSchema
  // kNotFound, or kInvalidArgument naming the state when the document is in none of `allowed`
  // (used after an UPDATE that changed nothing). REQUIRES: mu_ held.
  Error RefusedTransition(std::string_view id, std::string_view action) const;
  Result<std::optional<DocState>> StateOf(std::string_view id) const;  // REQUIRES: mu_ held
  Result<std::vector<DocumentRecord>> ReadDocuments(std::optional<DocState> only) const;  // ditto

  const std::filesystem::path path_;
  mutable std::mutex mu_;
  sqlite3* const db_;                                       // guarded by mu_
  mutable std::map<const char*, StatementPtr> statements_;  // guarded by mu_
};

}  // namespace quotaflow::batch
