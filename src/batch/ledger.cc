#include "batch/ledger.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "core/check.h"

namespace quotaflow::batch {
namespace {

namespace json = boost::json;

// Bumped with every change to the tables below; a ledger written by a newer quotaflow is refused
// rather than misread.
constexpr int kSchemaVersion = 1;

// Another process (a `report` reading the run, a second run by mistake) may hold the lock briefly.
constexpr int kBusyTimeoutMs = 5000;

// State is stored by name, so that `sqlite3 run.db` reads as the CLI prints.
constexpr const char* kSchema = R"sql(
CREATE TABLE run (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  model TEXT NOT NULL,
  tokens_per_minute INTEGER NOT NULL,
  requests_per_minute INTEGER NOT NULL,
  tokens_per_day INTEGER NOT NULL,
  period_ms INTEGER NOT NULL,
  quota_share REAL NOT NULL,
  limits_source TEXT NOT NULL,
  started_at_ms INTEGER NOT NULL,
  options_json TEXT NOT NULL
);
CREATE TABLE documents (
  id TEXT PRIMARY KEY NOT NULL,
  source TEXT NOT NULL,
  priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 2),
  metadata_json TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '',
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  settled_tokens INTEGER NOT NULL DEFAULT 0,
  model TEXT NOT NULL DEFAULT '',
  prompt_variant TEXT NOT NULL DEFAULT '',
  throttles INTEGER NOT NULL DEFAULT 0,
  queued_at_ms INTEGER NOT NULL DEFAULT 0,
  started_at_ms INTEGER NOT NULL DEFAULT 0,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  wait_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX documents_by_state ON documents (state);
CREATE TABLE chunks (
  document_id TEXT NOT NULL REFERENCES documents (id),
  chunk_index INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  result TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  settled_tokens INTEGER NOT NULL,
  PRIMARY KEY (document_id, chunk_index)
);
PRAGMA user_version = 1;
)sql";

constexpr const char* kDocumentColumns =
    "id, source, metadata_json, priority, state, attempts, reason, result, input_tokens, "
    "output_tokens, cache_read_tokens, cache_write_tokens, settled_tokens, model, prompt_variant, "
    "throttles, queued_at_ms, started_at_ms, finished_at_ms, wait_ms";

// Statements are cached by the address of their text, so each is one of these constants.
const std::string kSelectAll =
    fmt::format("SELECT {} FROM documents ORDER BY id", kDocumentColumns);
const std::string kSelectInState =
    fmt::format("SELECT {} FROM documents WHERE state = ?1 ORDER BY id", kDocumentColumns);
const std::string kSelectOne =
    fmt::format("SELECT {} FROM documents WHERE id = ?1", kDocumentColumns);

// QUOTAFLOW_CRASH_AT: fault injection for the end-to-end crash tests
// (src/cli/batch_command_test.cc). A SIGKILL timed from outside cannot be made to land inside a
// write, so the process kills itself there (ledger.h lists the points). Read once; unset, as
// always outside those tests, each point costs a comparison. A value that does not parse aborts:
// a typo must not make a crash test pass without crashing.
enum class CrashSite : uint8_t { kNone, kDone, kChunk, kExport };

struct CrashPoint {
  CrashSite site = CrashSite::kNone;
  int64_t nth = 1;  // the call, from 1 in this process, that dies
};

CrashPoint ParseCrashPoint(const char* spec) {
  CrashPoint point;
  if (spec == nullptr || *spec == '\0') return point;
  const std::string_view text(spec);
  const size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  if (name == "done") point.site = CrashSite::kDone;
  if (name == "chunk") point.site = CrashSite::kChunk;
  if (name == "export") point.site = CrashSite::kExport;
  if (colon != std::string_view::npos) {
    const std::string number(text.substr(colon + 1));
    char* end = nullptr;
    point.nth = std::strtoll(number.c_str(), &end, 10);
    QF_CHECK(!number.empty() && *end == '\0' && point.nth >= 1);
  }
  QF_CHECK(point.site != CrashSite::kNone);
  return point;
}

void MaybeCrash(CrashSite site) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, and nothing in quotaflow calls setenv.
  static const CrashPoint point = ParseCrashPoint(std::getenv("QUOTAFLOW_CRASH_AT"));
  if (point.site != site) return;
  static std::atomic<int64_t> calls{0};
  if (calls.fetch_add(1) + 1 == point.nth) std::raise(SIGKILL);
}

std::optional<DocState> ParseState(std::string_view name) {
  for (DocState s : {DocState::kPending, DocState::kRunning, DocState::kDone, DocState::kFailed}) {
    if (DocStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view PriorityName(int priority) {
  switch (priority) {
    case 0:
      return "low";
    case 2:
      return "high";
    default:
      return "normal";
  }
}

json::value NullIfEmpty(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

std::string JsonLine(const DocumentRecord& d) {
  json::object line;
  line["id"] = d.id;
  line["source"] = NullIfEmpty(d.source);
  line["status"] = d.state == DocState::kRunning ? "pending" : DocStateName(d.state);
  line["priority"] = PriorityName(d.priority);
  line["attempts"] = d.attempts;
  line["model"] = NullIfEmpty(d.model);
  line["prompt_variant"] = NullIfEmpty(d.prompt_variant);
  if (d.state == DocState::kDone) line["result"] = d.result;
  if (d.state == DocState::kFailed) line["error"] = d.reason;
  line["usage"] = json::object{{"input_tokens", d.usage.input},
                               {"output_tokens", d.usage.output},
                               {"cache_read_tokens", d.usage.cache_read},
                               {"cache_write_tokens", d.usage.cache_write}};
  // Checked to be an object when added; a ledger edited by hand gets null rather than a bad line.
  boost::system::error_code ec;
  json::value metadata = json::parse(d.metadata_json, ec);
  line["metadata"] = ec || !metadata.is_object() ? json::value(nullptr) : std::move(metadata);
  std::string text = json::serialize(line);
  text += '\n';
  return text;
}

Error ErrnoError(std::string_view what, const std::filesystem::path& path, int err) {
  return Error::Io(
      fmt::format("{} {}: {}", what, path.string(), std::generic_category().message(err)));
}

// Writes `bytes` to `out` so that a reader (or a kill at any point) sees either the old file whole
// or the new one whole: a temporary file in the same directory, fsync, rename, fsync the directory.
Status WriteFileAtomically(const std::filesystem::path& out, std::string_view bytes) {
  const std::filesystem::path dir = out.has_parent_path() ? out.parent_path() : ".";
  const std::string temp_prefix = fmt::format(".{}.tmp-", out.filename().string());
  // A run killed mid-export leaves its temporary file behind: the next export removes it (one
  // run writes a given output at a time).
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(temp_prefix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  std::string temp = (dir / (temp_prefix + "XXXXXX")).string();
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return tl::unexpected(ErrnoError("cannot create a file beside", out, errno));
  auto fail = [&](int err) {
    close(fd);
    unlink(temp.c_str());
    return tl::unexpected(ErrnoError("cannot write", out, err));
  };
  // mkostemp makes the file private; the output gets the mode an existing one had, else 0644.
  struct stat existing {};
  const mode_t mode = stat(out.c_str(), &existing) == 0 ? (existing.st_mode & 07777) : 0644;
  if (fchmod(fd, mode) != 0) return fail(errno);
  // In two halves, so that a crash test can die between them (MaybeCrash).
  const size_t half = bytes.size() / 2;
  for (size_t written = 0; written < bytes.size();) {
    const size_t end = written < half ? half : bytes.size();
    const ssize_t n = write(fd, bytes.data() + written, end - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    written += static_cast<size_t>(n);
    if (written == half) MaybeCrash(CrashSite::kExport);
  }
  if (fsync(fd) != 0) return fail(errno);
  if (close(fd) != 0) {
    const int err = errno;
    unlink(temp.c_str());
    return tl::unexpected(ErrnoError("cannot write", out, err));
  }
  if (rename(temp.c_str(), out.c_str()) != 0) {
    const int err = errno;
    unlink(temp.c_str());
    return tl::unexpected(ErrnoError("cannot write", out, err));
  }
  // The rename is durable once the directory is; a failure here leaves a complete file anyway.
  if (const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return {};
}

}  // namespace

std::string_view DocStateName(DocState s) {
  switch (s) {
    case DocState::kPending:
      return "pending";
    case DocState::kRunning:
      return "running";
    case DocState::kDone:
      return "done";
    case DocState::kFailed:
      return "failed";
  }
  return "unknown";
}

void Ledger::StatementDeleter::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

// A cached statement in use: bind, step, read columns; reset and unbound when it goes out of scope.
// Text is bound without a copy, so the bound strings must outlive the Query.
// REQUIRES: the ledger's mu_ held for the Query's whole life.
class Ledger::Query {
 public:
  Query(const Ledger& ledger, sqlite3_stmt* stmt) : ledger_(&ledger), stmt_(stmt) {}
  Query(Query&& other) noexcept
      : ledger_(other.ledger_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        bind_rc_(other.bind_rc_) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  Query& Bind(int index, int64_t value) {
    Keep(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Query& Bind(int index, int value) { return Bind(index, int64_t{value}); }
  Query& Bind(int index, double value) {
    Keep(sqlite3_bind_double(stmt_, index, value));
    return *this;
  }
  Query& Bind(int index, std::string_view text) {
    Keep(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }

  // True with a row to read, false when the statement is done.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) return tl::unexpected(ledger_->SqlError("cannot bind"));
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return tl::unexpected(ledger_->SqlError(sqlite3_sql(stmt_)));
  }
  // Steps a statement that returns no rows.
  Status Run() {
    Result<bool> row = Step();
    if (!row) return tl::unexpected(row.error());
    return {};
  }

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text == nullptr
               ? std::string()
               : std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  void Keep(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  const Ledger* ledger_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE (the write lock at once, so that no other writer makes us fail half-way), and a
// ROLLBACK at scope exit unless committed. REQUIRES: the ledger's mu_ held for its whole life.
class Ledger::Transaction {
 public:
  explicit Transaction(const Ledger& ledger) : ledger_(ledger) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (begun_ && !committed_) sqlite3_exec(ledger_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Status Begin() {
    Status begun = ledger_.Exec("BEGIN IMMEDIATE");
    begun_ = begun.has_value();
    return begun;
  }
  Status Commit() {
    Status committed = ledger_.Exec("COMMIT");
    committed_ = committed.has_value();
    return committed;
  }

 private:
  const Ledger& ledger_;
  bool begun_ = false;
  bool committed_ = false;
};

Ledger::Ledger(std::filesystem::path path, sqlite3* db) : path_(std::move(path)), db_(db) {}

Ledger::~Ledger() {
  // Statements first: a connection with unfinalized statements does not close.
  statements_.clear();
  sqlite3_close(db_);
}

Error Ledger::SqlError(std::string_view what) const {
  const int rc = sqlite3_extended_errcode(db_);
  Error error =
      Error::Io(fmt::format("ledger {}: {}: {}", path_.string(), what, sqlite3_errmsg(db_)));
  // Locked by another process past the busy timeout: trying again later may work.
  error.retryable = (rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED;
  return error;
}

Result<sqlite3_stmt*> Ledger::Prepare(const char* sql) const {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return tl::unexpected(SqlError(sql));
  }
  statements_.emplace(sql, StatementPtr(stmt));
  return stmt;
}

Result<std::string> Ledger::ScalarText(const char* sql) const {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return tl::unexpected(SqlError(sql));
  }
  const StatementPtr stmt(raw);
  Query q(*this, stmt.get());
  Result<bool> row = q.Step();
  if (!row) return tl::unexpected(row.error());
  return *row ? q.Text(0) : std::string();
}

Status Ledger::Exec(const char* sql) const {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return tl::unexpected(SqlError(sql));
  }
  return {};
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& path) {
  return OpenWith(path, /*read_only=*/false);
}

Result<std::unique_ptr<Ledger>> Ledger::OpenReadOnly(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return tl::unexpected(Error::NotFound(fmt::format("no ledger at {}", path.string())));
  }
  return OpenWith(path, /*read_only=*/true);
}

Result<std::unique_ptr<Ledger>> Ledger::OpenWith(const std::filesystem::path& path,
                                                 bool read_only) {
  sqlite3* db = nullptr;
  // NOMUTEX: the Ledger's own mutex serializes every use of the connection.
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error error = Error::Io(fmt::format("ledger {}: cannot open: {}", path.string(),
                                        db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return tl::unexpected(std::move(error));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::unique_ptr<Ledger> ledger(new Ledger(path, db));
  std::lock_guard lock(ledger->mu_);

  // The first read of the file: this is where a file that is not a database is found out.
  Result<std::string> version = ledger->ScalarText("PRAGMA user_version");
  if (!version) return tl::unexpected(version.error());
  if (std::atoll(version->c_str()) > kSchemaVersion) {
    return tl::unexpected(Error::Io(
        fmt::format("ledger {}: written by a newer quotaflow (schema version {}; this one reads "
                    "up to {}): upgrade quotaflow, or start a new --state",
                    path.string(), *version, kSchemaVersion)));
  }
  if (read_only) {
    if (std::atoll(version->c_str()) == 0) {
      return tl::unexpected(
          Error::Io(fmt::format("ledger {}: not a quotaflow ledger (no schema)", path.string())));
    }
    if (Status s = ledger->Exec("PRAGMA query_only = ON"); !s) return tl::unexpected(s.error());
    return ledger;
  }
  // WAL: readers (a `report`) never block the run, and a commit is one append. NORMAL syncs at
  // checkpoints only: a commit survives the process's death, which is what the resume needs.
  Result<std::string> journal = ledger->ScalarText("PRAGMA journal_mode = WAL");
  if (!journal) return tl::unexpected(journal.error());
  if (*journal != "wal") {
    return tl::unexpected(Error::Io(fmt::format(
        "ledger {}: cannot switch the journal to WAL (it stays \"{}\")", path.string(), *journal)));
  }
  if (Status s = ledger->Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"); !s) {
    return tl::unexpected(s.error());
  }
  if (Status s = ledger->InitSchema(); !s) return tl::unexpected(s.error());
  if (Status s = ledger->Resume(); !s) return tl::unexpected(s.error());
  return ledger;
}

Status Ledger::InitSchema() {
  Transaction txn(*this);
  if (Status s = txn.Begin(); !s) return s;
  // Read again under the write lock: another process may have created the schema meanwhile.
  Result<std::string> version = ScalarText("PRAGMA user_version");
  if (!version) return tl::unexpected(version.error());
  if (std::atoll(version->c_str()) == kSchemaVersion) return txn.Commit();
  Result<std::string> objects = ScalarText("SELECT count(*) FROM sqlite_schema");
  if (!objects) return tl::unexpected(objects.error());
  if (*objects != "0") {
    return tl::unexpected(Error::Io(fmt::format(
        "ledger {}: a SQLite database, but not a quotaflow ledger (tables without a schema "
        "version)",
        path_.string())));
  }
  if (Status s = Exec(kSchema); !s) return s;
  return txn.Commit();
}

Status Ledger::Resume() {
  Result<sqlite3_stmt*> stmt = Prepare(
      "UPDATE documents SET state = 'pending', queued_at_ms = 0, started_at_ms = 0 "
      "WHERE state = 'running'");
  if (!stmt) return tl::unexpected(stmt.error());
  return Query(*this, *stmt).Run();
}

Status Ledger::SetRunInfo(const RunInfo& info) {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "INSERT OR REPLACE INTO run (singleton, model, tokens_per_minute, requests_per_minute, "
      "tokens_per_day, period_ms, quota_share, limits_source, started_at_ms, options_json) "
      "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, info.model)
      .Bind(2, info.tokens_per_minute)
      .Bind(3, info.requests_per_minute)
      .Bind(4, info.tokens_per_day)
      .Bind(5, info.period_ms)
      .Bind(6, info.quota_share)
      .Bind(7, info.limits_source)
      .Bind(8, info.started_at_ms)
      .Bind(9, info.options_json);
  return q.Run();
}

Result<std::optional<RunInfo>> Ledger::GetRunInfo() const {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "SELECT model, tokens_per_minute, requests_per_minute, tokens_per_day, period_ms, "
      "quota_share, limits_source, started_at_ms, options_json FROM run WHERE singleton = 1");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  Result<bool> row = q.Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<RunInfo>();
  RunInfo info;
  info.model = q.Text(0);
  info.tokens_per_minute = q.Int(1);
  info.requests_per_minute = q.Int(2);
  info.tokens_per_day = q.Int(3);
  info.period_ms = q.Int(4);
  info.quota_share = q.Real(5);
  info.limits_source = q.Text(6);
  info.started_at_ms = q.Int(7);
  info.options_json = q.Text(8);
  return info;
}

Result<int64_t> Ledger::AddDocuments(std::span<const NewDocument> docs) {
  for (const NewDocument& doc : docs) {
    if (doc.id.empty()) {
      return tl::unexpected(Error::InvalidArgument(fmt::format(
          "ledger {}: a document without an id (source \"{}\")", path_.string(), doc.source)));
    }
    if (doc.priority < 0 || doc.priority > 2) {
      return tl::unexpected(
          Error::InvalidArgument(fmt::format("ledger {}: document {}: priority {} is not 0, 1 or 2",
                                             path_.string(), doc.id, doc.priority)));
    }
    boost::system::error_code ec;
    const json::value metadata = json::parse(doc.metadata_json, ec);
    if (ec || !metadata.is_object()) {
      return tl::unexpected(Error::InvalidArgument(fmt::format(
          "ledger {}: document {}: metadata is not a JSON object", path_.string(), doc.id)));
    }
  }
  std::lock_guard lock(mu_);
  Transaction txn(*this);
  if (Status s = txn.Begin(); !s) return tl::unexpected(s.error());
  Result<sqlite3_stmt*> stmt = Prepare(
      "INSERT INTO documents (id, source, priority, metadata_json, state, reason) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING");
  if (!stmt) return tl::unexpected(stmt.error());
  int64_t added = 0;
  for (const NewDocument& doc : docs) {
    const bool unusable = !doc.failed_reason.empty();
    Query q(*this, *stmt);
    q.Bind(1, doc.id)
        .Bind(2, doc.source)
        .Bind(3, doc.priority)
        .Bind(4, doc.metadata_json)
        .Bind(5, DocStateName(unusable ? DocState::kFailed : DocState::kPending))
        .Bind(6, doc.failed_reason);
    if (Status s = q.Run(); !s) return tl::unexpected(s.error());
    added += sqlite3_changes64(db_);
  }
  if (Status s = txn.Commit(); !s) return tl::unexpected(s.error());
  return added;
}

namespace {

// Columns in kDocumentColumns order.
template <typename Q>
Result<DocumentRecord> ReadRecord(const Q& q, const std::filesystem::path& path) {
  DocumentRecord d;
  d.id = q.Text(0);
  d.source = q.Text(1);
  d.metadata_json = q.Text(2);
  d.priority = static_cast<int>(q.Int(3));
  const std::string state = q.Text(4);
  const std::optional<DocState> parsed = ParseState(state);
  if (!parsed) {
    return tl::unexpected(Error::Io(fmt::format(
        "ledger {}: document {} has an unknown state \"{}\"", path.string(), d.id, state)));
  }
  d.state = *parsed;
  d.attempts = static_cast<int>(q.Int(5));
  d.reason = q.Text(6);
  d.result = q.Text(7);
  d.usage = {q.Int(8), q.Int(9), q.Int(10), q.Int(11)};
  d.settled_tokens = q.Int(12);
  d.model = q.Text(13);
  d.prompt_variant = q.Text(14);
  d.throttles = static_cast<int>(q.Int(15));
  d.queued_at_ms = q.Int(16);
  d.started_at_ms = q.Int(17);
  d.finished_at_ms = q.Int(18);
  d.wait_ms = q.Int(19);
  return d;
}

}  // namespace

Result<std::vector<DocumentRecord>> Ledger::ReadDocuments(std::optional<DocState> only) const {
  Result<sqlite3_stmt*> stmt = Prepare(only ? kSelectInState.c_str() : kSelectAll.c_str());
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  if (only) q.Bind(1, DocStateName(*only));
  std::vector<DocumentRecord> docs;
  while (true) {
    Result<bool> row = q.Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    Result<DocumentRecord> doc = ReadRecord(q, path_);
    if (!doc) return tl::unexpected(doc.error());
    docs.push_back(std::move(*doc));
  }
  return docs;
}

Result<std::vector<DocumentRecord>> Ledger::Documents(std::optional<DocState> only) const {
  std::lock_guard lock(mu_);
  return ReadDocuments(only);
}

Result<std::optional<DocumentRecord>> Ledger::Find(std::string_view id) const {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(kSelectOne.c_str());
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id);
  Result<bool> row = q.Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<DocumentRecord>();
  Result<DocumentRecord> doc = ReadRecord(q, path_);
  if (!doc) return tl::unexpected(doc.error());
  return std::optional<DocumentRecord>(std::move(*doc));
}

Result<std::optional<DocState>> Ledger::StateOf(std::string_view id) const {
  Result<sqlite3_stmt*> stmt = Prepare("SELECT state FROM documents WHERE id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id);
  Result<bool> row = q.Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<DocState>();
  return ParseState(q.Text(0));
}

Error Ledger::RefusedTransition(std::string_view id, std::string_view action) const {
  Result<std::optional<DocState>> state = StateOf(id);
  if (!state) return state.error();
  if (!*state) {
    return Error::NotFound(fmt::format("ledger {}: no document {}", path_.string(), id));
  }
  return Error::InvalidArgument(fmt::format("ledger {}: document {} cannot be {}: already {}",
                                            path_.string(), id, action, DocStateName(**state)));
}

Status Ledger::MarkRunning(std::string_view id, int64_t started_at_ms) {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "UPDATE documents SET state = 'running', attempts = attempts + 1, queued_at_ms = ?2, "
      "started_at_ms = ?2, finished_at_ms = 0, wait_ms = 0 WHERE id = ?1 AND state = 'pending'");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id).Bind(2, started_at_ms);
  if (Status s = q.Run(); !s) return s;
  if (sqlite3_changes64(db_) == 0) return tl::unexpected(RefusedTransition(id, "started"));
  return {};
}

Status Ledger::MarkDone(std::string_view id, const Completion& c) {
  std::lock_guard lock(mu_);
  Transaction txn(*this);
  if (Status s = txn.Begin(); !s) return s;
  Result<sqlite3_stmt*> read =
      Prepare("SELECT state, queued_at_ms, started_at_ms FROM documents WHERE id = ?1");
  if (!read) return tl::unexpected(read.error());
  int64_t queued_at = 0;
  int64_t started_at = 0;
  {
    Query q(*this, *read);
    q.Bind(1, id);
    Result<bool> row = q.Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return tl::unexpected(RefusedTransition(id, "done"));
    const std::optional<DocState> state = ParseState(q.Text(0));
    if (state != DocState::kPending && state != DocState::kRunning) {
      return tl::unexpected(RefusedTransition(id, "done"));
    }
    queued_at = q.Int(1);
    started_at = q.Int(2);
  }
  if (c.started_at_ms > 0) started_at = c.started_at_ms;
  int64_t wait = c.wait_ms;
  if (wait > 0) {
    queued_at = started_at - wait;
  } else {
    if (queued_at == 0 || queued_at > started_at) queued_at = started_at;
    wait = started_at - queued_at;
  }
  Result<sqlite3_stmt*> write = Prepare(
      "UPDATE documents SET state = 'done', reason = '', result = ?2, input_tokens = ?3, "
      "output_tokens = ?4, cache_read_tokens = ?5, cache_write_tokens = ?6, settled_tokens = ?7, "
      "model = ?8, prompt_variant = ?9, throttles = throttles + ?10, queued_at_ms = ?11, "
      "started_at_ms = ?12, finished_at_ms = ?13, wait_ms = ?14 WHERE id = ?1");
  if (!write) return tl::unexpected(write.error());
  {
    Query q(*this, *write);
    q.Bind(1, id)
        .Bind(2, c.result)
        .Bind(3, c.usage.input)
        .Bind(4, c.usage.output)
        .Bind(5, c.usage.cache_read)
        .Bind(6, c.usage.cache_write)
        .Bind(7, c.settled_tokens)
        .Bind(8, c.model)
        .Bind(9, c.prompt_variant)
        .Bind(10, c.throttles)
        .Bind(11, queued_at)
        .Bind(12, started_at)
        .Bind(13, c.finished_at_ms)
        .Bind(14, wait);
    if (Status s = q.Run(); !s) return s;
  }
  MaybeCrash(CrashSite::kDone);
  return txn.Commit();
}

Status Ledger::MarkFailed(std::string_view id, std::string_view reason, int throttles,
                          int64_t finished_at_ms) {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "UPDATE documents SET state = 'failed', reason = ?2, throttles = throttles + ?3, "
      "finished_at_ms = ?4 WHERE id = ?1 AND state IN ('pending', 'running', 'failed')");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id).Bind(2, reason).Bind(3, throttles).Bind(4, finished_at_ms);
  if (Status s = q.Run(); !s) return s;
  if (sqlite3_changes64(db_) == 0) return tl::unexpected(RefusedTransition(id, "failed"));
  return {};
}

Status Ledger::MarkPending(std::string_view id) {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "UPDATE documents SET state = 'pending', queued_at_ms = 0, started_at_ms = 0 "
      "WHERE id = ?1 AND state IN ('pending', 'running')");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id);
  if (Status s = q.Run(); !s) return s;
  if (sqlite3_changes64(db_) == 0) return tl::unexpected(RefusedTransition(id, "requeued"));
  return {};
}

Status Ledger::Retry(std::string_view id) {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "UPDATE documents SET state = 'pending', reason = '', queued_at_ms = 0, started_at_ms = 0, "
      "finished_at_ms = 0 WHERE id = ?1 AND state = 'failed'");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id);
  if (Status s = q.Run(); !s) return s;
  if (sqlite3_changes64(db_) == 0) return tl::unexpected(RefusedTransition(id, "retried"));
  return {};
}

Status Ledger::AddThrottles(std::string_view id, int n) {
  if (n < 0) {
    return tl::unexpected(Error::InvalidArgument(
        fmt::format("ledger {}: document {}: {} throttles", path_.string(), id, n)));
  }
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt =
      Prepare("UPDATE documents SET throttles = throttles + ?2 WHERE id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id).Bind(2, n);
  if (Status s = q.Run(); !s) return s;
  if (sqlite3_changes64(db_) == 0) {
    return tl::unexpected(
        Error::NotFound(fmt::format("ledger {}: no document {}", path_.string(), id)));
  }
  return {};
}

Status Ledger::SaveChunk(std::string_view id, const ChunkRecord& chunk) {
  if (chunk.index < 0 || chunk.index >= chunk.count) {
    return tl::unexpected(Error::InvalidArgument(fmt::format(
        "ledger {}: document {}: chunk {} of {}", path_.string(), id, chunk.index, chunk.count)));
  }
  std::lock_guard lock(mu_);
  Result<std::optional<DocState>> state = StateOf(id);
  if (!state) return tl::unexpected(state.error());
  if (!*state) {
    return tl::unexpected(
        Error::NotFound(fmt::format("ledger {}: no document {}", path_.string(), id)));
  }
  Result<sqlite3_stmt*> stmt = Prepare(
      "INSERT INTO chunks (document_id, chunk_index, chunk_count, result, input_tokens, "
      "output_tokens, cache_read_tokens, cache_write_tokens, settled_tokens) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
      "ON CONFLICT (document_id, chunk_index) DO NOTHING");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id)
      .Bind(2, chunk.index)
      .Bind(3, chunk.count)
      .Bind(4, chunk.result)
      .Bind(5, chunk.usage.input)
      .Bind(6, chunk.usage.output)
      .Bind(7, chunk.usage.cache_read)
      .Bind(8, chunk.usage.cache_write)
      .Bind(9, chunk.settled_tokens);
  if (Status s = q.Run(); !s) return s;
  MaybeCrash(CrashSite::kChunk);
  return {};
}

Result<std::vector<ChunkRecord>> Ledger::Chunks(std::string_view id) const {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare(
      "SELECT chunk_index, chunk_count, result, input_tokens, output_tokens, cache_read_tokens, "
      "cache_write_tokens, settled_tokens FROM chunks WHERE document_id = ?1 "
      "ORDER BY chunk_index");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  q.Bind(1, id);
  std::vector<ChunkRecord> chunks;
  while (true) {
    Result<bool> row = q.Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    chunks.push_back(ChunkRecord{static_cast<int>(q.Int(0)), static_cast<int>(q.Int(1)), q.Text(2),
                                 TokenUsage{q.Int(3), q.Int(4), q.Int(5), q.Int(6)}, q.Int(7)});
  }
  return chunks;
}

Result<Counts> Ledger::Count() const {
  std::lock_guard lock(mu_);
  Result<sqlite3_stmt*> stmt = Prepare("SELECT state, count(*) FROM documents GROUP BY state");
  if (!stmt) return tl::unexpected(stmt.error());
  Query q(*this, *stmt);
  Counts counts;
  while (true) {
    Result<bool> row = q.Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    const int64_t n = q.Int(1);
    switch (ParseState(q.Text(0)).value_or(DocState::kFailed)) {
      case DocState::kPending:
        counts.pending = n;
        break;
      case DocState::kRunning:
        counts.running = n;
        break;
      case DocState::kDone:
        counts.done = n;
        break;
      case DocState::kFailed:
        counts.failed = n;
        break;
    }
  }
  return counts;
}

Status Ledger::ExportJsonl(const std::filesystem::path& out) const {
  std::string text;
  {
    // One read transaction (a statement is one): a consistent snapshot of every document.
    std::lock_guard lock(mu_);
    Result<std::vector<DocumentRecord>> docs = ReadDocuments(std::nullopt);
    if (!docs) return tl::unexpected(docs.error());
    for (const DocumentRecord& d : *docs) text += JsonLine(d);
  }
  // The file is written without the lock: the run goes on meanwhile.
  return WriteFileAtomically(out, text);
}

}  // namespace quotaflow::batch
