// The ledger over real SQLite files in temporary directories: the resume after a kill, idempotent
// adds and chunks, documents never completed twice (also from racing threads), the atomic export,
// and clear errors for files that are not ledgers of this version.

#include "batch/ledger.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aws/test_process.h"

namespace quotaflow::batch {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::TempDir;

std::vector<NewDocument> Docs(int n, const std::string& prefix = "doc") {
  std::vector<NewDocument> docs;
  for (int i = 0; i < n; ++i) {
    NewDocument doc;
    doc.id = fmt::format("{}-{:03}", prefix, i);
    doc.source = "in/" + doc.id + ".txt";
    doc.priority = i % 3;
    doc.metadata_json = fmt::format(R"({{"n":{}}})", i);
    docs.push_back(std::move(doc));
  }
  return docs;
}

Completion Done(std::string result, int64_t finished_at_ms = 2000) {
  Completion c;
  c.result = std::move(result);
  c.usage = {100, 20, 5, 7};
  c.settled_tokens = 207;
  c.model = "anthropic.claude-3-haiku-20240307-v1:0";
  c.prompt_variant = "full";
  c.finished_at_ms = finished_at_ms;
  return c;
}

std::unique_ptr<Ledger> OpenOrDie(const std::filesystem::path& path) {
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
  EXPECT_TRUE(ledger.has_value()) << ledger.error().ToString();
  return ledger ? std::move(*ledger) : nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Ids(const Result<std::vector<DocumentRecord>>& docs) {
  std::vector<std::string> ids;
  for (const DocumentRecord& d : docs.value()) ids.push_back(d.id);
  return ids;
}

// Runs `sql` on the file with a connection of its own (to fake other programs' files).
void RawExec(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &message), SQLITE_OK)
      << (message != nullptr ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::filesystem::path Path(const std::string& name = "run.db") const {
    return dir_.path() / name;
  }

  TempDir dir_{"quotaflow-ledger"};
};

TEST_F(LedgerTest, DocStateNamesAreTheStoredNames) {
  EXPECT_EQ(DocStateName(DocState::kPending), "pending");
  EXPECT_EQ(DocStateName(DocState::kRunning), "running");
  EXPECT_EQ(DocStateName(DocState::kDone), "done");
  EXPECT_EQ(DocStateName(DocState::kFailed), "failed");
}

TEST_F(LedgerTest, NewDocumentsArePendingWithTheirInputs) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->path(), Path());
  const std::vector<NewDocument> docs = Docs(3);
  EXPECT_EQ(ledger->AddDocuments(docs).value(), 3);

  const std::vector<DocumentRecord> records = ledger->Documents().value();
  ASSERT_EQ(records.size(), 3U);
  EXPECT_EQ(records[2].id, "doc-002");
  EXPECT_EQ(records[2].source, "in/doc-002.txt");
  EXPECT_EQ(records[2].priority, 2);
  EXPECT_EQ(records[2].metadata_json, R"({"n":2})");
  EXPECT_EQ(records[2].state, DocState::kPending);
  EXPECT_EQ(records[2].attempts, 0);
  EXPECT_EQ(ledger->Find("doc-001").value()->priority, 1);
  EXPECT_FALSE(ledger->Find("nope").value().has_value());
  EXPECT_EQ(ledger->Count().value().pending, 3);
}

TEST_F(LedgerTest, DocumentsAreOrderedByIdAndFilteredByState) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  std::vector<NewDocument> docs(3);
  docs[0].id = "b";
  docs[1].id = "a";
  docs[2].id = "c";
  ASSERT_TRUE(ledger->AddDocuments(docs));
  ASSERT_TRUE(ledger->MarkRunning("c", 1000));
  EXPECT_THAT(Ids(ledger->Documents()), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Ids(ledger->Documents(DocState::kPending)), ElementsAre("a", "b"));
  EXPECT_EQ(ledger->Documents(DocState::kRunning).value().size(), 1U);
}

TEST_F(LedgerTest, KilledRunsRunningDocumentsGoBackToPendingOnOpen) {
  {
    std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
    ASSERT_TRUE(ledger->AddDocuments(Docs(3)));
    ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
    ASSERT_TRUE(ledger->MarkRunning("doc-001", 1000));
    ASSERT_TRUE(ledger->MarkDone("doc-001", Done("one")));
    ASSERT_TRUE(ledger->MarkRunning("doc-002", 1000));
    // Closed with doc-000 and doc-002 running, as a kill leaves them.
  }
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  const Counts counts = ledger->Count().value();
  EXPECT_EQ(counts.running, 0);
  EXPECT_EQ(counts.pending, 2);
  EXPECT_EQ(counts.done, 1);
  EXPECT_EQ(counts.total(), 3);
  const DocumentRecord resumed = ledger->Find("doc-000").value().value();
  EXPECT_EQ(resumed.state, DocState::kPending);
  EXPECT_EQ(resumed.attempts, 1);  // kept: the second start is attempt 2
  EXPECT_EQ(resumed.started_at_ms, 0);
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 5000));
  EXPECT_EQ(ledger->Find("doc-000").value()->attempts, 2);
  EXPECT_EQ(ledger->Find("doc-001").value()->result, "one");
}

TEST_F(LedgerTest, AddDocumentsIsIdempotentAndKeepsExistingStates) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_EQ(ledger->AddDocuments(Docs(3)).value(), 3);
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
  ASSERT_TRUE(ledger->MarkDone("doc-000", Done("zero")));
  // A rerun collects the same inputs plus a new one; a duplicate within one call counts once.
  std::vector<NewDocument> again = Docs(4);
  again.push_back(again.back());
  again[0].priority = 0;
  EXPECT_EQ(ledger->AddDocuments(again).value(), 1);
  EXPECT_EQ(ledger->Count().value().total(), 4);
  const DocumentRecord zero = ledger->Find("doc-000").value().value();
  EXPECT_EQ(zero.state, DocState::kDone);
  EXPECT_EQ(zero.result, "zero");
  EXPECT_EQ(zero.priority, 0);  // the first insert's, not the rerun's
  EXPECT_EQ(ledger->AddDocuments({}).value(), 0);
}

TEST_F(LedgerTest, UnusableInputsAreInsertedFailedWithTheirReason) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  std::vector<NewDocument> docs = Docs(2);
  docs[1].failed_reason = "binary file";
  ASSERT_EQ(ledger->AddDocuments(docs).value(), 2);
  const DocumentRecord failed = ledger->Find("doc-001").value().value();
  EXPECT_EQ(failed.state, DocState::kFailed);
  EXPECT_EQ(failed.reason, "binary file");
  EXPECT_EQ(failed.attempts, 0);
  EXPECT_EQ(ledger->Count().value().failed, 1);
}

TEST_F(LedgerTest, InvalidDocumentsAreRefusedAndNothingIsInserted) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  std::vector<NewDocument> docs = Docs(2);
  docs[1].priority = 3;
  Result<int64_t> added = ledger->AddDocuments(docs);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(added.error().message, HasSubstr("doc-001"));

  docs = Docs(2);
  docs[0].metadata_json = "[1, 2]";
  added = ledger->AddDocuments(docs);
  ASSERT_FALSE(added);
  EXPECT_THAT(added.error().message, HasSubstr("metadata is not a JSON object"));

  docs = Docs(2);
  docs[1].id.clear();
  EXPECT_EQ(ledger->AddDocuments(docs).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger->Count().value().total(), 0);
}

TEST_F(LedgerTest, MarkDoneTwiceIsRefusedAndKeepsTheFirstResult) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(1)));
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
  ASSERT_TRUE(ledger->MarkDone("doc-000", Done("first")));
  Status again = ledger->MarkDone("doc-000", Done("second"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(again.error().message, HasSubstr("already done"));
  const DocumentRecord doc = ledger->Find("doc-000").value().value();
  EXPECT_EQ(doc.result, "first");
  EXPECT_EQ(doc.usage.input, 100);
  EXPECT_EQ(doc.usage.output, 20);
  EXPECT_EQ(doc.usage.cache_read, 5);
  EXPECT_EQ(doc.usage.cache_write, 7);
  EXPECT_EQ(doc.settled_tokens, 207);
  EXPECT_EQ(doc.model, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(doc.prompt_variant, "full");
  EXPECT_EQ(ledger->Count().value().done, 1);
}

TEST_F(LedgerTest, TransitionsOutsideTheStateMachineAreRefused) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(3)));
  // A pending document may be completed without MarkRunning (the state machine allows it).
  EXPECT_TRUE(ledger->MarkDone("doc-000", Done("zero")));
  EXPECT_EQ(ledger->MarkRunning("doc-000", 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger->MarkFailed("doc-000", "x", 0, 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger->MarkPending("doc-000").error().code, ErrorCode::kInvalidArgument);

  ASSERT_TRUE(ledger->MarkRunning("doc-001", 1000));
  EXPECT_EQ(ledger->MarkRunning("doc-001", 1000).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(ledger->MarkPending("doc-001"));
  EXPECT_TRUE(ledger->MarkPending("doc-001"));  // already pending: nothing to do
  EXPECT_EQ(ledger->Find("doc-001").value()->state, DocState::kPending);
  EXPECT_EQ(ledger->Find("doc-001").value()->attempts, 1);

  ASSERT_TRUE(ledger->MarkRunning("doc-002", 1000));
  ASSERT_TRUE(ledger->MarkFailed("doc-002", "ValidationException: too long", 2, 3000));
  EXPECT_TRUE(ledger->MarkFailed("doc-002", "still too long", 1, 4000));  // a failure updated
  Status done = ledger->MarkDone("doc-002", Done("late"));
  ASSERT_FALSE(done);
  EXPECT_THAT(done.error().message, HasSubstr("already failed"));
  const DocumentRecord failed = ledger->Find("doc-002").value().value();
  EXPECT_EQ(failed.reason, "still too long");
  EXPECT_EQ(failed.throttles, 3);
  EXPECT_EQ(failed.finished_at_ms, 4000);

  for (Status s : {ledger->MarkRunning("ghost", 1), ledger->MarkDone("ghost", Done("x")),
                   ledger->MarkFailed("ghost", "x", 0, 1), ledger->MarkPending("ghost"),
                   ledger->AddThrottles("ghost", 1)}) {
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kNotFound) << s.error().message;
  }
}

TEST_F(LedgerTest, ThrottlesAccumulateOverCallsAndAttempts) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(1)));
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
  ASSERT_TRUE(ledger->AddThrottles("doc-000", 2));
  ASSERT_TRUE(ledger->MarkPending("doc-000"));
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 2000));
  Completion c = Done("ok");
  c.throttles = 3;
  ASSERT_TRUE(ledger->MarkDone("doc-000", c));
  EXPECT_EQ(ledger->Find("doc-000").value()->throttles, 5);
  EXPECT_EQ(ledger->AddThrottles("doc-000", -1).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(LedgerTest, CompletionTimesMakeQueueIntervalAndWaitAgree) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(3)));

  // The scheduler reported its wait: the queue interval ends at the start and lasts the wait.
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
  Completion waited = Done("a", 9000);
  waited.started_at_ms = 4000;
  waited.wait_ms = 2500;
  ASSERT_TRUE(ledger->MarkDone("doc-000", waited));
  DocumentRecord d = ledger->Find("doc-000").value().value();
  EXPECT_EQ(d.queued_at_ms, 1500);
  EXPECT_EQ(d.started_at_ms, 4000);
  EXPECT_EQ(d.finished_at_ms, 9000);
  EXPECT_EQ(d.wait_ms, 2500);

  // No wait reported: MarkRunning's time is when it was queued, the wait follows.
  ASSERT_TRUE(ledger->MarkRunning("doc-001", 1000));
  Completion started = Done("b", 9000);
  started.started_at_ms = 3000;
  ASSERT_TRUE(ledger->MarkDone("doc-001", started));
  d = ledger->Find("doc-001").value().value();
  EXPECT_EQ(d.queued_at_ms, 1000);
  EXPECT_EQ(d.started_at_ms, 3000);
  EXPECT_EQ(d.wait_ms, 2000);

  // Neither: started when MarkRunning said, without a wait.
  ASSERT_TRUE(ledger->MarkRunning("doc-002", 1000));
  ASSERT_TRUE(ledger->MarkDone("doc-002", Done("c", 9000)));
  d = ledger->Find("doc-002").value().value();
  EXPECT_EQ(d.queued_at_ms, 1000);
  EXPECT_EQ(d.started_at_ms, 1000);
  EXPECT_EQ(d.wait_ms, 0);
}

TEST_F(LedgerTest, ChunksAreIdempotentPerIndexAndOrdered) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(2)));
  ASSERT_TRUE(ledger->SaveChunk("doc-000", {2, 3, "third", {30, 3, 0, 0}, 33}));
  ASSERT_TRUE(ledger->SaveChunk("doc-000", {0, 3, "first", {10, 1, 0, 0}, 11}));
  // A redone chunk (the run was killed before it knew the save had landed) changes nothing.
  ASSERT_TRUE(ledger->SaveChunk("doc-000", {0, 3, "first again", {99, 9, 0, 0}, 99}));

  const std::vector<ChunkRecord> chunks = ledger->Chunks("doc-000").value();
  ASSERT_EQ(chunks.size(), 2U);
  EXPECT_EQ(chunks[0].index, 0);
  EXPECT_EQ(chunks[0].count, 3);
  EXPECT_EQ(chunks[0].result, "first");
  EXPECT_EQ(chunks[0].usage.input, 10);
  EXPECT_EQ(chunks[0].settled_tokens, 11);
  EXPECT_EQ(chunks[1].index, 2);
  EXPECT_EQ(chunks[1].result, "third");
  EXPECT_TRUE(ledger->Chunks("doc-001").value().empty());

  EXPECT_EQ(ledger->SaveChunk("ghost", {0, 1, "x", {}, 0}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ledger->SaveChunk("doc-000", {3, 3, "x", {}, 0}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger->SaveChunk("doc-000", {-1, 3, "x", {}, 0}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(LedgerTest, RunInfoIsOneRowReplacedWhole) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  EXPECT_FALSE(ledger->GetRunInfo().value().has_value());
  RunInfo info;
  info.model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
  info.tokens_per_minute = 400000;
  info.requests_per_minute = 800;
  info.tokens_per_day = 576000000;
  info.period_ms = 6000;
  info.quota_share = 0.5;
  info.limits_source = "service-quotas";
  info.started_at_ms = 1749722400000;
  info.options_json = R"({"max_tokens":1024})";
  ASSERT_TRUE(ledger->SetRunInfo(info));
  info.quota_share = 0.25;
  ASSERT_TRUE(ledger->SetRunInfo(info));
  ledger.reset();

  ledger = OpenOrDie(Path());
  const RunInfo read = ledger->GetRunInfo().value().value();
  EXPECT_EQ(read.model, info.model);
  EXPECT_EQ(read.tokens_per_minute, 400000);
  EXPECT_EQ(read.requests_per_minute, 800);
  EXPECT_EQ(read.tokens_per_day, 576000000);
  EXPECT_EQ(read.period_ms, 6000);
  EXPECT_DOUBLE_EQ(read.quota_share, 0.25);
  EXPECT_EQ(read.limits_source, "service-quotas");
  EXPECT_EQ(read.started_at_ms, 1749722400000);
  EXPECT_EQ(read.options_json, info.options_json);
}

TEST_F(LedgerTest, ExportWritesOneValidJsonLinePerDocument) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  std::vector<NewDocument> docs = Docs(4);
  docs[3].source.clear();  // inline manifest text
  docs[3].failed_reason = "empty input";
  ASSERT_TRUE(ledger->AddDocuments(docs));
  ASSERT_TRUE(ledger->MarkRunning("doc-000", 1000));
  ASSERT_TRUE(ledger->MarkDone("doc-000", Done("line one\nline \"two\"\n")));
  ASSERT_TRUE(ledger->MarkRunning("doc-001", 1000));  // running: exported as pending

  const std::filesystem::path out = Path("out.jsonl");
  ASSERT_TRUE(ledger->ExportJsonl(out));
  const std::vector<std::string> lines = Lines(ReadFile(out));
  ASSERT_EQ(lines.size(), 4U);
  std::vector<json::object> objects;
  for (const std::string& line : lines) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    ASSERT_TRUE(v.is_object()) << line;
    objects.push_back(v.as_object());
  }
  const json::object& done = objects[0];
  EXPECT_EQ(done.at("id"), "doc-000");
  EXPECT_EQ(done.at("source"), "in/doc-000.txt");
  EXPECT_EQ(done.at("status"), "done");
  EXPECT_EQ(done.at("priority"), "low");
  EXPECT_EQ(done.at("attempts"), 1);
  EXPECT_EQ(done.at("model"), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(done.at("prompt_variant"), "full");
  EXPECT_EQ(done.at("result"), "line one\nline \"two\"\n");
  EXPECT_FALSE(done.contains("error"));
  EXPECT_EQ(done.at("usage"), (json::object{{"input_tokens", 100},
                                            {"output_tokens", 20},
                                            {"cache_read_tokens", 5},
                                            {"cache_write_tokens", 7}}));
  EXPECT_EQ(done.at("metadata"), (json::object{{"n", 0}}));

  EXPECT_EQ(objects[1].at("status"), "pending");
  EXPECT_EQ(objects[1].at("priority"), "normal");
  EXPECT_FALSE(objects[1].contains("result"));
  EXPECT_TRUE(objects[1].at("model").is_null());
  EXPECT_EQ(objects[2].at("priority"), "high");

  const json::object& failed = objects[3];
  EXPECT_EQ(failed.at("status"), "failed");
  EXPECT_EQ(failed.at("error"), "empty input");
  EXPECT_TRUE(failed.at("source").is_null());
  EXPECT_FALSE(failed.contains("result"));
}

TEST_F(LedgerTest, ExportReplacesAnExistingOutputWholeAndLeavesNoTemporaryFile) {
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(2)));
  const std::filesystem::path out = Path("out.jsonl");
  // Longer than the new output: a file rewritten in place would keep its tail.
  std::ofstream(out) << std::string(10000, 'x') << '\n';
  ASSERT_TRUE(ledger->ExportJsonl(out));
  const std::vector<std::string> lines = Lines(ReadFile(out));
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].front(), '{');
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    names.insert(entry.path().filename().string());
  }
  for (const std::string& name : names) EXPECT_THAT(name, ::testing::Not(HasSubstr(".tmp")));

  Status unwritable = ledger->ExportJsonl(Path("no/such/dir/out.jsonl"));
  ASSERT_FALSE(unwritable);
  EXPECT_EQ(unwritable.error().code, ErrorCode::kIo);
  EXPECT_THAT(unwritable.error().message, HasSubstr("out.jsonl"));
}

TEST_F(LedgerTest, ConcurrentMarkDoneCompletesEachDocumentOnce) {
  constexpr int kDocs = 60;
  constexpr int kThreads = 6;
  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_TRUE(ledger->AddDocuments(Docs(kDocs)));
  std::vector<std::atomic<int>> wins(kDocs);
  std::atomic<int> refused{0};
  std::atomic<int> other_errors{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread goes over every document, starting at a different place.
      for (int k = 0; k < kDocs; ++k) {
        const int i = (k + t * 7) % kDocs;
        Status s = ledger->MarkDone(fmt::format("doc-{:03}", i), Done(fmt::format("thread {}", t)));
        if (s) {
          wins[i].fetch_add(1);
        } else if (s.error().code == ErrorCode::kInvalidArgument) {
          refused.fetch_add(1);
        } else {
          other_errors.fetch_add(1);
        }
        if (k % 10 == 0) (void)ledger->Count();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kDocs; ++i) EXPECT_EQ(wins[i].load(), 1) << "doc " << i;
  EXPECT_EQ(refused.load(), kDocs * (kThreads - 1));
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(ledger->Count().value().done, kDocs);
}

TEST_F(LedgerTest, AFileThatIsNotADatabaseIsAClearIoError) {
  const std::filesystem::path path = Path("notes.txt");
  std::ofstream(path) << std::string(8192, 'n');
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().code, ErrorCode::kIo);
  EXPECT_THAT(ledger.error().message, HasSubstr(path.string()));
  EXPECT_THAT(ledger.error().message, HasSubstr("file is not a database"));

  Result<std::unique_ptr<Ledger>> directory = Ledger::Open(dir_.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kIo);
  EXPECT_THAT(directory.error().message, HasSubstr("cannot open"));
}

TEST_F(LedgerTest, ADatabaseThatIsNotALedgerIsRefused) {
  RawExec(Path("other.db"), "CREATE TABLE recipes (name TEXT)");
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(Path("other.db"));
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().code, ErrorCode::kIo);
  EXPECT_THAT(ledger.error().message, HasSubstr("not a quotaflow ledger"));
}

TEST_F(LedgerTest, ALedgerFromANewerSchemaVersionIsRefused) {
  ASSERT_NE(OpenOrDie(Path()), nullptr);
  RawExec(Path(), "PRAGMA user_version = 2");
  for (bool read_only : {false, true}) {
    Result<std::unique_ptr<Ledger>> ledger =
        read_only ? Ledger::OpenReadOnly(Path()) : Ledger::Open(Path());
    ASSERT_FALSE(ledger);
    EXPECT_EQ(ledger.error().code, ErrorCode::kIo);
    EXPECT_THAT(ledger.error().message, HasSubstr("newer quotaflow (schema version 2"));
    EXPECT_THAT(ledger.error().message, HasSubstr(Path().string()));
  }
}

TEST_F(LedgerTest, ReadOnlyOpenNeitherResumesNorWrites) {
  std::unique_ptr<Ledger> writer = OpenOrDie(Path());
  ASSERT_TRUE(writer->AddDocuments(Docs(2)));
  ASSERT_TRUE(writer->MarkRunning("doc-000", 1000));

  // A report while the run goes on: it sees the running document as it is.
  Result<std::unique_ptr<Ledger>> reader = Ledger::OpenReadOnly(Path());
  ASSERT_TRUE(reader) << reader.error().ToString();
  EXPECT_EQ((*reader)->Count().value().running, 1);
  EXPECT_EQ(writer->Find("doc-000").value()->state, DocState::kRunning);
  Status write = (*reader)->MarkPending("doc-000");
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, ErrorCode::kIo);
  // Writes by the run show in the reader.
  ASSERT_TRUE(writer->MarkDone("doc-000", Done("zero")));
  EXPECT_EQ((*reader)->Count().value().done, 1);

  Result<std::unique_ptr<Ledger>> missing = Ledger::OpenReadOnly(Path("missing.db"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(Path("missing.db")));
}

// The child completes documents one by one and reports each commit on a pipe; the parent kills it
// with SIGKILL part-way. Every reported document must be done, whole, after reopening, and the
// rest pending: nothing lost, nothing half-written.
TEST_F(LedgerTest, ChildKilledMidRunLeavesEveryCommittedDocumentDone) {
  constexpr int kDocs = 400;
  constexpr int kKillAfter = 60;
  // Big enough results that the kill is likely to land inside a write.
  auto result_for = [](int i) { return fmt::format("result {} ", i) + std::string(20000, 'r'); };
  {
    std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
    ASSERT_TRUE(ledger->AddDocuments(Docs(kDocs)));
  }  // closed before fork: a connection must not cross it
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(acks[0]);
    Result<std::unique_ptr<Ledger>> child = Ledger::Open(Path());
    if (!child) _exit(2);
    for (int i = 0; i < kDocs; ++i) {
      const std::string id = fmt::format("doc-{:03}", i);
      if (!(*child)->MarkRunning(id, 1000 + i) || !(*child)->MarkDone(id, Done(result_for(i)))) {
        _exit(3);
      }
      const int32_t done = i;
      if (write(acks[1], &done, sizeof done) != sizeof done) _exit(4);
    }
    _exit(0);
  }
  close(acks[1]);
  std::vector<int> acknowledged;
  int32_t index = 0;
  while (static_cast<int>(acknowledged.size()) < kKillAfter &&
         read(acks[0], &index, sizeof index) == sizeof index) {
    acknowledged.push_back(index);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(acks[0]);
  ASSERT_EQ(static_cast<int>(acknowledged.size()), kKillAfter) << "child exited " << status;

  std::unique_ptr<Ledger> ledger = OpenOrDie(Path());
  ASSERT_NE(ledger, nullptr);
  const Counts counts = ledger->Count().value();
  EXPECT_EQ(counts.total(), kDocs);
  EXPECT_EQ(counts.running, 0);
  EXPECT_GE(counts.done, kKillAfter);
  EXPECT_LT(counts.done, kDocs) << "the child finished before the kill: nothing was tested";
  RecordProperty("done_at_kill", static_cast<int>(counts.done));
  for (int i : acknowledged) {
    EXPECT_EQ(ledger->Find(fmt::format("doc-{:03}", i)).value()->state, DocState::kDone);
  }
  // Done documents are whole; the child completes in order, so done ones are a prefix.
  const std::vector<DocumentRecord> docs = ledger->Documents().value();
  for (int i = 0; i < kDocs; ++i) {
    const DocumentRecord& d = docs[static_cast<size_t>(i)];
    if (i < counts.done) {
      EXPECT_EQ(d.state, DocState::kDone) << d.id;
      EXPECT_EQ(d.result, result_for(i)) << d.id;
      EXPECT_EQ(d.attempts, 1) << d.id;
    } else {
      EXPECT_EQ(d.state, DocState::kPending) << d.id;
      EXPECT_TRUE(d.result.empty()) << d.id;
    }
  }

  // The rerun finishes the rest; the output has exactly one line per document.
  const std::vector<DocumentRecord> pending = ledger->Documents(DocState::kPending).value();
  for (const DocumentRecord& d : pending) {
    ASSERT_TRUE(ledger->MarkRunning(d.id, 5000));
    ASSERT_TRUE(ledger->MarkDone(d.id, Done("rerun")));
  }
  EXPECT_FALSE(ledger->MarkDone(docs.front().id, Done("twice")));
  ASSERT_TRUE(ledger->ExportJsonl(Path("out.jsonl")));
  const std::vector<std::string> lines = Lines(ReadFile(Path("out.jsonl")));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kDocs));
  std::set<std::string> ids;
  for (const std::string& line : lines) {
    ids.insert(std::string(json::parse(line).as_object().at("id").as_string()));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kDocs));
}

}  // namespace
}  // namespace quotaflow::batch
