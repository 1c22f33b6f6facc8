// `quotaflow batch` end to end, as a user runs it: the built binary in a child process with a
// clean environment, seeded synthetic documents in a temp dir, and the emulator over HTTP: the
// binary's own (--emulate CONFIG), or the test's on port 0 (--endpoint-url) when a test breaks the
// credentials or reads the emulator's books. Quota periods of two seconds (six for the examples)
// and little or no latency keep each run to a few seconds.
//
// Crashes are SIGKILLs, from the test after seeded delays and from the binary itself inside a
// chosen write (QUOTAFLOW_CRASH_AT, see batch/ledger.h): in MarkDone's transaction before its
// COMMIT, after a chunk's INSERT, halfway through the output's temporary file. After each one the
// ledger holds exactly what was committed, and reruns complete every document exactly once.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "aws/test_process.h"
#include "batch/ledger.h"
#include "cli/cli_test_util.h"
#include "emulator/config.h"
#include "emulator/emulator.h"
#include "emulator/options.h"

namespace quotaflow::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_util::Child;
using testing_util::TempDir;

// Amazon Nova Lite's cross-region profile: a context window of 300,000 tokens.
constexpr char kNova[] = "us.amazon.nova-lite-v1:0";
// Llama 3 8B on demand: a context window of 8,192 tokens, so a long document is split.
constexpr char kLlama[] = "meta.llama3-8b-instruct-v1:0";

// An emulator config: `tokens` per `period` on every path, outputs of 20 to 80 tokens, the given
// time to first token (none by default), and `extra` TOML at the end (a [faults] table).
std::string EmulatorToml(std::string_view period, int64_t tokens, uint64_t seed,
                         std::string_view first_token = "0", std::string_view extra = "") {
  return fmt::format(
      "seed = {2}\n"
      "[quotas]\nmode = \"token_bucket\"\nperiod = \"{0}\"\n"
      "[quotas.on_demand]\ntokens_per_minute = {1}\n"
      "[quotas.cross_region]\ntokens_per_minute = {1}\n"
      "[output]\ndistribution = \"uniform\"\nmin = 20\nmax = 80\n"
      "[latency]\ntime_to_first_token = \"{3}\"\nper_output_token = \"0\"\njitter = \"0\"\n{4}",
      period, tokens, seed, first_token, extra);
}

// Seeded contract-like prose: paragraphs of short words, some followed by a comma, which the
// client's estimate and the emulator's tokenizer both count at about 3.7 characters per token.
std::string Prose(std::mt19937& rng, int paragraphs, int words) {
  static const std::vector<std::string> kWords = {
      "the",   "party", "shall", "pay",   "fee",  "term",  "notice", "within", "days",  "of",
      "any",   "claim", "goods", "price", "law",  "court", "data",   "audit",  "owner", "waiver",
      "under", "each",  "rate",  "tax",   "loss", "scope", "duty",   "month",  "final", "rights"};
  std::uniform_int_distribution<size_t> pick(0, kWords.size() - 1);
  std::string text;
  for (int p = 0; p < paragraphs; ++p) {
    if (p > 0) text += "\n\n";
    for (int w = 0; w < words; ++w) {
      if (w > 0) text += w % 2 == 0 ? ", " : " ";
      text += kWords[pick(rng)];
    }
    text += '.';
  }
  return text + "\n";
}

// The output file's lines, each parsed; a test failure for a line that is not a JSON object (a
// half-written line would be one).
std::vector<json::object> ReadJsonl(const fs::path& path) {
  std::vector<json::object> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    json::value value = json::parse(line, ec);
    if (ec || !value.is_object()) {
      ADD_FAILURE() << path << ": not a JSON object: " << line;
      continue;
    }
    lines.push_back(std::move(value.as_object()));
  }
  return lines;
}

std::string Field(const json::object& line, std::string_view key) {
  const json::value* v = line.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::unique_ptr<batch::Ledger> OpenLedger(const fs::path& state) {
  auto ledger = batch::Ledger::OpenReadOnly(state);
  if (!ledger) {
    ADD_FAILURE() << ledger.error().message;
    return nullptr;
  }
  return std::move(*ledger);
}

std::vector<batch::DocumentRecord> Documents(const fs::path& state) {
  std::unique_ptr<batch::Ledger> ledger = OpenLedger(state);
  if (ledger == nullptr) return {};
  auto docs = ledger->Documents();
  if (!docs) ADD_FAILURE() << docs.error().message;
  return docs ? std::move(*docs) : std::vector<batch::DocumentRecord>();
}

int64_t CountIn(const std::vector<batch::DocumentRecord>& docs, batch::DocState state) {
  return std::count_if(docs.begin(), docs.end(),
                       [state](const batch::DocumentRecord& d) { return d.state == state; });
}

// Every id of `ids` exactly once in the output, done, with the ledger agreeing line by line.
void ExpectEveryDocumentDoneOnce(const fs::path& out, const fs::path& state,
                                 const std::set<std::string>& ids) {
  std::map<std::string, json::object> lines;
  for (json::object& line : ReadJsonl(out)) {
    const std::string id = Field(line, "id");
    EXPECT_EQ(Field(line, "status"), "done") << line;
    EXPECT_FALSE(Field(line, "result").empty()) << line;
    EXPECT_TRUE(lines.emplace(id, std::move(line)).second) << id << " twice in " << out;
  }
  std::set<std::string> seen;
  for (const auto& [id, line] : lines) seen.insert(id);
  EXPECT_EQ(seen, ids);
  for (const batch::DocumentRecord& d : Documents(state)) {
    EXPECT_EQ(d.state, batch::DocState::kDone) << d.id;
    auto line = lines.find(d.id);
    ASSERT_NE(line, lines.end()) << d.id << " is in the ledger, not in " << out;
    EXPECT_EQ(Field(line->second, "result"), d.result) << d.id;
  }
}

// What a done document was committed with: no later run may change it (completed twice).
struct Committed {
  std::string result;
  int64_t finished_at_ms = 0;
};

void ExpectDoneDocumentsKept(const std::vector<batch::DocumentRecord>& docs,
                             std::map<std::string, Committed>* committed) {
  for (const batch::DocumentRecord& d : docs) {
    if (d.state != batch::DocState::kDone) continue;
    auto [it, first] = committed->emplace(d.id, Committed{d.result, d.finished_at_ms});
    if (first) continue;
    EXPECT_EQ(d.result, it->second.result) << d.id << " completed twice";
    EXPECT_EQ(d.finished_at_ms, it->second.finished_at_ms) << d.id << " completed twice";
  }
}

class BatchCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    prompt_ =
        dir_.Write("prompt.txt", "Summarize this contract in three sentences.\n\n{document}\n");
    out_ = dir_.path() / "results.jsonl";
    state_ = dir_.path() / "run.db";
  }

  // `count` documents of about `words` × 1.5 tokens under `folder`; returns their paths (their
  // ids).
  std::set<std::string> WriteDocuments(const std::string& folder, int count, uint32_t seed,
                                       int words = 160) {
    std::mt19937 rng(seed);
    std::set<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.insert(dir_.Write(fmt::format("{}/doc-{:02}.txt", folder, i), Prose(rng, 4, words / 4)));
    }
    return ids;
  }

  // About 18,000 tokens in 120 paragraphs: four chunks for Llama 3 8B.
  std::string WriteLongDocument(const std::string& name, uint32_t seed) {
    std::mt19937 rng(seed);
    return dir_.Write(name, Prose(rng, 120, 100));
  }

  // `quotaflow batch INPUTS --model M --prompt P --state S --out O --quiet --max-tokens N ARGS`,
  // from the members.
  std::vector<std::string> BatchArgs(const std::vector<std::string>& inputs,
                                     const std::string& model,
                                     const std::vector<std::string>& args = {}) const {
    std::vector<std::string> argv = {"batch"};
    argv.insert(argv.end(), inputs.begin(), inputs.end());
    argv.insert(argv.end(), {"--model", model, "--prompt", prompt_, "--state", state_.string(),
                             "--out", out_.string(), "--quiet", "--max-tokens", max_tokens_});
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  struct Run {
    int code = -1;  // -1: a signal ended it
    std::string out;
    std::string err;
  };

  // The binary with `args`, a clean environment (the emulator's keys, no config files, HOME in the
  // temp dir) plus `env` ("NAME=value", later ones win); stderr goes to a file of its own.
  std::unique_ptr<Child> Start(const std::vector<std::string>& args,
                               const std::vector<std::string>& env = {}) {
    err_ = (dir_.path() / fmt::format("stderr-{}", ++runs_)).string();
    std::string error;
    std::unique_ptr<Child> child = SpawnQuotaflow(dir_.path(), err_, args, env, &error);
    if (child == nullptr) ADD_FAILURE() << error;
    return child;
  }

  Run Finish(Child& child) {
    Run run;
    std::tie(run.code, run.out) = child.Wait(seconds(60));
    std::ifstream in(err_);
    run.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return run;
  }

  Run Batch(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::unique_ptr<Child> child = Start(args, env);
    return child == nullptr ? Run{} : Finish(*child);
  }

  // An emulator in this process on port 0, for --endpoint-url: a test can then break the
  // credentials or the endpoint, and read the emulator's books.
  static std::unique_ptr<emulator::Emulator> StartEmulator(const std::string& toml) {
    Result<emulator::EmulatorOptions> options = emulator::ParseEmulatorConfig(toml, "<test>");
    if (!options) {
      ADD_FAILURE() << options.error().message;
      return nullptr;
    }
    options->server.port = 0;
    auto emulated = std::make_unique<emulator::Emulator>(*options);
    if (Status started = emulated->Start(); !started) {
      ADD_FAILURE() << started.error().message;
      return nullptr;
    }
    return emulated;
  }

  TempDir dir_{"quotaflow-batch-e2e"};
  std::string prompt_;
  // Near the outputs' 20 to 80 tokens, so that a reservation (input + max_tokens) stays near what
  // the request is charged.
  std::string max_tokens_ = "100";
  fs::path out_;
  fs::path state_;
  std::string err_;  // the last child's stderr file
  int runs_ = 0;
};

// ---- Crashes.

// Whether a run got as far as a ledger to inspect. A kill may land before the run created the
// file, or while it wrote the schema (read-only, that is "not a quotaflow ledger (no schema)").
bool LedgerWritten(const fs::path& state) {
  if (!fs::exists(state)) return false;
  auto ledger = batch::Ledger::OpenReadOnly(state);
  return ledger || ledger.error().message.find("(no schema)") == std::string::npos;
}

// The chunks saved for the split document `id`: (saved, count), count 0 before the first.
std::pair<int, int> ChunkProgress(const fs::path& state, const std::string& id) {
  std::unique_ptr<batch::Ledger> ledger = OpenLedger(state);
  if (ledger == nullptr) return {0, 0};
  auto chunks = ledger->Chunks(id);
  if (!chunks) {
    ADD_FAILURE() << chunks.error().message;
    return {0, 0};
  }
  return {static_cast<int>(chunks->size()), chunks->empty() ? 0 : chunks->front().count};
}

// The partial temporary files an export killed halfway left beside `out`.
std::vector<fs::path> TemporaryOutputs(const fs::path& out) {
  std::vector<fs::path> temps;
  const std::string prefix = "." + out.filename().string() + ".tmp-";
  for (const auto& entry : fs::directory_iterator(out.parent_path())) {
    if (entry.path().filename().string().starts_with(prefix)) temps.push_back(entry.path());
  }
  return temps;
}

TEST_F(BatchCommandTest, KilledAtAnyPointRerunsCompleteEveryDocumentExactlyOnce) {
  // A round (about 30,000 tokens) takes two seconds of quota.
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 30'000, 3, "20ms"));
  std::mt19937 rng(20240605);
  // Per round, each kind of kill point resolved against what the ledger holds at that moment.
  enum class Kill : uint8_t { kTimed, kChunk, kDone, kExport };
  const std::vector<Kill> kRound = {Kill::kTimed, Kill::kChunk, Kill::kChunk, Kill::kDone,
                                    Kill::kTimed, Kill::kDone,  Kill::kDone,  Kill::kExport};
  constexpr int kRounds = 3;
  int kills = 0;
  std::map<std::string, int> kills_by_kind;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    const std::string folder = fmt::format("round{}", round);
    state_ = dir_.path() / (folder + ".db");
    out_ = dir_.path() / (folder + ".jsonl");
    std::set<std::string> ids = WriteDocuments(folder, 10, 100 + round, 800);
    // Fed among the others (ids sort by byte: "doc-04-long" < "doc-04.txt").
    const std::string long_doc = WriteLongDocument(folder + "/doc-04-long.txt", 200 + round);
    ids.insert(long_doc);
    const std::vector<std::string> args =
        BatchArgs({(dir_.path() / folder).string()}, kLlama, {"--emulate", config});

    std::map<std::string, Committed> committed;
    for (Kill kind : kRound) {
      const bool had_ledger = LedgerWritten(state_);
      const std::vector<batch::DocumentRecord> before =
          had_ledger ? Documents(state_) : std::vector<batch::DocumentRecord>();
      const int64_t done_before = CountIn(before, batch::DocState::kDone);
      const int64_t left = static_cast<int64_t>(ids.size()) - done_before;
      const auto [saved, count] =
          had_ledger ? ChunkProgress(state_, long_doc) : std::pair<int, int>{0, 0};
      const int chunks_left = count == 0 ? 1 : count - saved;
      // Fall back to a point the run still reaches: a done of what is left, else the export.
      if (kind == Kill::kTimed && left < 4) kind = Kill::kDone;
      if (kind == Kill::kChunk && chunks_left == 0) kind = Kill::kDone;
      if (kind == Kill::kDone && left == 0) kind = Kill::kExport;
      std::string crash_at;
      int nth = 1;
      milliseconds delay{0};
      switch (kind) {
        case Kill::kTimed:
          // Well within the run: startup takes about 100 ms, then each document left about 80.
          delay = milliseconds(
              std::uniform_int_distribution<int>(100, 100 + 40 * static_cast<int>(left))(rng));
          break;
        case Kill::kChunk:
          nth = std::uniform_int_distribution<int>(1, chunks_left)(rng);
          crash_at = fmt::format("chunk:{}", nth);
          break;
        case Kill::kDone:
          nth = std::uniform_int_distribution<int>(
              1, static_cast<int>(std::min<int64_t>(left, 5)))(rng);
          crash_at = fmt::format("done:{}", nth);
          break;
        case Kill::kExport:
          crash_at = "export";
          break;
      }
      SCOPED_TRACE(crash_at.empty() ? fmt::format("SIGKILL after {} ms", delay.count())
                                    : "QUOTAFLOW_CRASH_AT=" + crash_at);
      std::vector<std::string> env;
      if (!crash_at.empty()) env.push_back("QUOTAFLOW_CRASH_AT=" + crash_at);
      std::unique_ptr<Child> child = Start(args, env);
      ASSERT_NE(child, nullptr);
      if (kind == Kill::kTimed) {
        std::this_thread::sleep_for(delay);  // the seeded point of the run
        kill(child->pid(), SIGKILL);
      }
      const Run run = Finish(*child);
      if (kind == Kill::kTimed && run.code == 0) continue;  // it finished first: no kill point
      ASSERT_EQ(run.code, -1) << "not killed; stderr:\n" << run.err;
      ++kills;
      ++kills_by_kind[kind == Kill::kTimed ? "timed" : crash_at.substr(0, crash_at.find(':'))];
      if (kind == Kill::kTimed && !had_ledger && !LedgerWritten(state_)) {
        // Killed before the run had a ledger (a slow start): nothing was committed to inspect, and
        // the next run, like the final rerun, must still do every document exactly once.
        continue;
      }

      const std::vector<batch::DocumentRecord> after = Documents(state_);
      ExpectDoneDocumentsKept(after, &committed);
      const int64_t done_after = CountIn(after, batch::DocState::kDone);
      EXPECT_EQ(CountIn(after, batch::DocState::kFailed), 0);
      if (kind == Kill::kDone) {
        // Killed inside the Nth MarkDone: the N-1 before it committed, the Nth rolled back.
        EXPECT_EQ(done_after, done_before + nth - 1);
      }
      if (kind == Kill::kChunk) {
        // Killed after the Nth chunk's INSERT: those chunks are saved, the document is not done.
        EXPECT_EQ(ChunkProgress(state_, long_doc).first, saved + nth);
        for (const batch::DocumentRecord& d : after) {
          if (d.id == long_doc) {
            EXPECT_NE(d.state, batch::DocState::kDone);
          }
        }
      }
      if (kind == Kill::kExport) {
        // Every document was done; the kill left a half-written temporary file, never `out`.
        EXPECT_EQ(done_after, static_cast<int64_t>(ids.size()));
        const std::vector<fs::path> temps = TemporaryOutputs(out_);
        ASSERT_EQ(temps.size(), 1u);
        EXPECT_GT(fs::file_size(temps.front()), 0u);
      }
      if (fs::exists(out_)) ReadJsonl(out_);  // whole lines only, whatever the kill
    }
    // One rerun without a crash point finishes the round.
    const Run rerun = Batch(args);
    ASSERT_EQ(rerun.code, 0) << rerun.err;
    EXPECT_TRUE(TemporaryOutputs(out_).empty()) << "the next export removes a killed one's file";
    ExpectDoneDocumentsKept(Documents(state_), &committed);
    ExpectEveryDocumentDoneOnce(out_, state_, ids);
    const auto [saved, count] = ChunkProgress(state_, long_doc);
    EXPECT_GE(count, 3) << "the long document was meant to be split";
    EXPECT_EQ(saved, count);
  }
  EXPECT_GE(kills, 20);
  for (const char* kind : {"timed", "done", "chunk", "export"}) {
    EXPECT_GE(kills_by_kind[kind], 2) << kind;
  }
}

// ---- Ctrl-C.

// Polls the ledger, read-only as `quotaflow report` reads a run, until `done` documents are done.
bool WaitUntilDone(const fs::path& state, int64_t done, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto ledger = batch::Ledger::OpenReadOnly(state)) {
      if (auto counts = (*ledger)->Count(); counts && counts->done >= done) return true;
    }
    std::this_thread::sleep_for(milliseconds(10));  // polling the run's progress, not a fixed wait
  }
  return false;
}

TEST_F(BatchCommandTest, SigintDrainsLeavesTheRestPendingAndARerunFinishes) {
  // 20 documents of about 300 tokens at 3,000 tokens a second, each answered after 100 ms: a
  // couple of seconds, with requests in flight when the signal comes.
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 6'000, 5, "100ms"));
  const std::set<std::string> ids = WriteDocuments("docs", 20, 11);
  const std::vector<std::string> args =
      BatchArgs({(dir_.path() / "docs").string()}, kNova, {"--emulate", config});
  // Whoever started this test may have left SIGINT ignored, and children inherit that.
  std::signal(SIGINT, SIG_DFL);
  std::unique_ptr<Child> child = Start(args);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(WaitUntilDone(state_, 3, seconds(30)));
  ASSERT_EQ(kill(child->pid(), SIGINT), 0);
  const Run run = Finish(*child);
  EXPECT_EQ(run.code, 130) << run.err;
  EXPECT_TRUE(run.out.starts_with("quotaflow batch: interrupted (rerun to resume)\n")) << run.out;
  EXPECT_NE(run.err.find("quotaflow batch: stopping: no new requests; in-flight ones finish"),
            std::string::npos)
      << run.err;

  const std::vector<batch::DocumentRecord> docs = Documents(state_);
  ASSERT_EQ(docs.size(), ids.size());
  EXPECT_EQ(CountIn(docs, batch::DocState::kRunning), 0);
  EXPECT_EQ(CountIn(docs, batch::DocState::kFailed), 0);
  EXPECT_GE(CountIn(docs, batch::DocState::kDone), 3);
  EXPECT_GE(CountIn(docs, batch::DocState::kPending), 1) << "the run ended before the signal";
  // The output has every document, as the ledger has it.
  std::map<std::string, std::string> status;
  for (const json::object& line : ReadJsonl(out_)) {
    EXPECT_TRUE(status.emplace(Field(line, "id"), Field(line, "status")).second) << line;
    EXPECT_EQ(line.contains("result"), Field(line, "status") == "done") << line;
  }
  ASSERT_EQ(status.size(), ids.size());
  for (const batch::DocumentRecord& d : docs) {
    EXPECT_EQ(status[d.id], batch::DocStateName(d.state)) << d.id;
  }
  EXPECT_NE(run.out.find(fmt::format("{} pending)", CountIn(docs, batch::DocState::kPending))),
            std::string::npos)
      << run.out;

  std::map<std::string, Committed> committed;
  ExpectDoneDocumentsKept(docs, &committed);
  const Run rerun = Batch(args);
  EXPECT_EQ(rerun.code, 0) << rerun.err;
  ExpectDoneDocumentsKept(Documents(state_), &committed);
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
}

// ---- The deadline policy.

TEST_F(BatchCommandTest, DeadlineMetOnlyByTheMinimalPromptIsMetAndTheSummarySaysSo) {
  // 4,000 tokens a second; 20 documents of about 240 tokens. The dry runs below show what each
  // prompt alone would take: about 8 s (full), 5 s (standard), 1.5 s (minimal).
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 8'000, 9));
  const std::set<std::string> ids = WriteDocuments("docs", 20, 21);
  std::mt19937 rng(31);
  const std::string full =
      dir_.Write("full.txt", "Instructions:\n" + Prose(rng, 7, 133) + "\n{document}\n");
  const std::string standard =
      dir_.Write("standard.txt", "Instructions:\n" + Prose(rng, 4, 117) + "\n{document}\n");
  const std::string minimal = dir_.Write("minimal.txt", "Summarize:\n{document}\n");
  const std::string docs = (dir_.path() / "docs").string();
  constexpr double kDeadlineSeconds = 3;

  // The dry run's estimate is the policy's yardstick (pipeline.h): only the minimal prompt fits.
  const fs::path state = state_;
  state_ = dir_.path() / "dry-run.db";
  for (const auto& [prompt, fits] :
       {std::pair{full, false}, std::pair{standard, false}, std::pair{minimal, true}}) {
    prompt_ = prompt;
    const Run dry =
        Batch(BatchArgs({docs}, kNova, {"--emulate", config, "--dry-run", "--output", "json"}));
    ASSERT_EQ(dry.code, 0) << dry.err;
    const double estimate = json::parse(dry.out).at("estimated_seconds").to_number<double>();
    EXPECT_EQ(estimate <= kDeadlineSeconds / 2, fits) << prompt << ": " << dry.out;
    EXPECT_EQ(estimate > kDeadlineSeconds * 1.3, !fits) << prompt << ": " << dry.out;
  }
  prompt_ = full;

  // Without the minimal prompt the run misses the deadline, and says so. (max_tokens stays in both
  // runs: the prompt alone has to make the deadline.)
  state_ = dir_.path() / "no-minimal.db";
  const fs::path out = out_;
  out_ = dir_.path() / "no-minimal.jsonl";
  const Run missed = Batch(BatchArgs({docs}, kNova,
                                     {"--emulate", config, "--prompt-standard", standard,
                                      "--deadline", "3s", "--min-max-tokens", "100"}));
  EXPECT_EQ(missed.code, 0) << missed.err;
  EXPECT_NE(missed.out.find("deadline             0:03 (missed)"), std::string::npos) << missed.out;
  EXPECT_NE(missed.out.find("deadline policy      at 0.0 s: prompt variant 'standard'"),
            std::string::npos)
      << missed.out;
  state_ = state;
  out_ = out;

  const Run run =
      Batch(BatchArgs({docs}, kNova,
                      {"--emulate", config, "--prompt-standard", standard, "--prompt-minimal",
                       minimal, "--deadline", "3s", "--min-max-tokens", "100"}));
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("deadline             0:03 (met)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("deadline policy      at 0.0 s: prompt variant 'standard'"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("deadline policy      at 0.0 s: prompt variant 'minimal'"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("max_tokens"), std::string::npos) << run.out;
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
  for (const json::object& line : ReadJsonl(out_)) {
    EXPECT_EQ(Field(line, "prompt_variant"), "minimal") << line;
  }
}

// ---- Bad inputs: a clear message, the right exit code, nothing lost.

TEST_F(BatchCommandTest, MissingAndBinaryInputsFailAloneAndTheRestSucceed) {
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 100'000, 1));
  std::set<std::string> ids = WriteDocuments("docs", 5, 41);
  const std::string missing = (dir_.path() / "missing.txt").string();
  const std::string binary = dir_.Write("binary.dat", std::string(200, '\0'));
  const Run run = Batch(
      BatchArgs({(dir_.path() / "docs").string(), missing, binary}, kNova, {"--emulate", config}));
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_NE(run.out.find("documents            7 (5 succeeded, 2 failed, 0 pending)"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("1 × input: no such file or directory"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 × input: binary file"), std::string::npos) << run.out;
  for (const json::object& line : ReadJsonl(out_)) {
    const std::string id = Field(line, "id");
    if (id == missing || id == binary) {
      EXPECT_EQ(Field(line, "status"), "failed") << line;
      EXPECT_TRUE(Field(line, "error")
                      .starts_with(id == missing ? "input: no such file" : "input: binary file"))
          << line;
    } else {
      EXPECT_EQ(Field(line, "status"), "done") << line;
      EXPECT_EQ(ids.erase(id), 1u) << line;
    }
  }
  EXPECT_TRUE(ids.empty());
}

TEST_F(BatchCommandTest, NoDocumentsOrAnUnknownModelIsAUsageErrorBeforeAnythingStarts) {
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 100'000, 1));
  WriteDocuments("docs", 2, 51);
  fs::create_directories(dir_.path() / "empty");
  const std::string missing = (dir_.path() / "missing.txt").string();
  struct Case {
    std::vector<std::string> inputs;
    std::string model;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{missing},
            kNova,
            "quotaflow batch: no documents to process: " + missing +
                ": no such file or directory\n"},
           {{(dir_.path() / "empty").string()},
            kNova,
            "quotaflow batch: no documents to process: " + (dir_.path() / "empty").string() +
                ": no files in this directory (hidden files are skipped)\n"},
           {{(dir_.path() / "docs").string()},
            "anthropic.claude-9",
            "quotaflow batch: --model anthropic.claude-9: model 'anthropic.claude-9' is not in the "
            "model catalog (`quotaflow quotas list` shows the models)\n"}}) {
    const Run run = Batch(BatchArgs(c.inputs, c.model, {"--emulate", config}));
    EXPECT_EQ(run.code, 2) << c.message;
    EXPECT_EQ(run.err, c.message);
    EXPECT_EQ(run.out, "");
    EXPECT_FALSE(fs::exists(state_)) << c.message;
    EXPECT_FALSE(fs::exists(out_)) << c.message;
  }
}

// What a rerun must not change: each document's state, attempts and result.
std::vector<std::tuple<std::string, batch::DocState, int, std::string>> Snapshot(
    const std::vector<batch::DocumentRecord>& docs) {
  std::vector<std::tuple<std::string, batch::DocState, int, std::string>> out;
  out.reserve(docs.size());
  for (const batch::DocumentRecord& d : docs) out.emplace_back(d.id, d.state, d.attempts, d.result);
  return out;
}

// The last line of `text` (the error; a warning may come before it).
std::string LastLine(const std::string& text) {
  const std::string trimmed = text.substr(0, text.find_last_not_of('\n') + 1);
  return trimmed.substr(trimmed.find_last_of('\n') + 1);
}

TEST_F(BatchCommandTest, AwsMaxAttemptsSetsTheInPlaceRetriesOfEveryModelCall) {
  // Every runtime call fails with a 500: one document is tried AWS_MAX_ATTEMPTS times in place,
  // then requeued (ClientOptions::max_transient_requeues, 3) and tried as often again each time.
  std::unique_ptr<emulator::Emulator> emulated =
      StartEmulator(EmulatorToml("2s", 20'000, 1, "0", "[faults]\ninternal_error = 1.0\n"));
  ASSERT_NE(emulated, nullptr);
  WriteDocuments("docs", 1, 62);
  const Run run = Batch(BatchArgs({(dir_.path() / "docs").string()}, kNova,
                                  {"--endpoint-url", emulated->endpoint(), "--region", "us-east-1",
                                   "--period", "2s", "--tpm", "20000"}),
                        {"AWS_MAX_ATTEMPTS=1"});
  EXPECT_EQ(run.code, 3) << run.err;  // the document failed
  const json::value state = json::parse(emulated->StateJson());
  EXPECT_EQ(state.at("faults").at("injected").to_number<int64_t>(), 1 * (1 + 3)) << run.err;
}

TEST_F(BatchCommandTest, RejectedCredentialsOrAnUnreachableEndpointExitOneAndChangeNothing) {
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 20'000, 1));
  ASSERT_NE(emulated, nullptr);
  const std::set<std::string> ids = WriteDocuments("docs", 8, 61);
  auto args = [&](const std::string& endpoint) {
    return BatchArgs({(dir_.path() / "docs").string()}, kNova,
                     {"--endpoint-url", endpoint, "--region", "us-east-1", "--period", "2s"});
  };
  // A run killed after three documents: a ledger that the failed runs below must leave alone.
  ASSERT_EQ(Batch(args(emulated->endpoint()), {"QUOTAFLOW_CRASH_AT=done:4"}).code, -1);
  const auto before = Snapshot(Documents(state_));
  ASSERT_EQ(before.size(), ids.size());
  const std::string prefix = fmt::format("quotaflow batch: cannot use {} at ", kNova);

  Run run = Batch(args(emulated->endpoint()), {"AWS_SECRET_ACCESS_KEY=not-the-secret"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(LastLine(run.err).starts_with(prefix + emulated->endpoint() +
                                            ": InvalidSignatureException (HTTP 403): "))
      << run.err;
  run = Batch(args(emulated->endpoint()), {"AWS_ACCESS_KEY_ID=AKIAUNKNOWNKEY000000"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(LastLine(run.err).starts_with(prefix + emulated->endpoint() +
                                            ": UnrecognizedClientException (HTTP 403): "))
      << run.err;
  const testing_util::ClosedPort closed;
  const std::string unreachable = fmt::format("http://127.0.0.1:{}", closed.port());
  run = Batch(args(unreachable));
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(
      LastLine(run.err).starts_with(prefix + unreachable + ": unavailable: connection failed"))
      << run.err;
  EXPECT_EQ(Snapshot(Documents(state_)), before);
  EXPECT_FALSE(fs::exists(out_));

  // Fixed, the same command finishes the run: the three kept, the rest done once.
  std::map<std::string, Committed> committed;
  ExpectDoneDocumentsKept(Documents(state_), &committed);
  EXPECT_EQ(committed.size(), 3u);
  run = Batch(args(emulated->endpoint()));
  EXPECT_EQ(run.code, 0) << run.err;
  ExpectDoneDocumentsKept(Documents(state_), &committed);
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
}

TEST_F(BatchCommandTest, DocumentTooLongForTheModelFailsAloneWhenNotSplit) {
  const std::string config = dir_.Write("emulator.toml", EmulatorToml("2s", 100'000, 1));
  std::set<std::string> ids = WriteDocuments("docs", 4, 71);
  const std::string long_doc = WriteLongDocument("docs/long.txt", 72);
  const Run run = Batch(
      BatchArgs({(dir_.path() / "docs").string()}, kLlama, {"--emulate", config, "--no-split"}));
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_NE(run.out.find("documents            5 (4 succeeded, 1 failed, 0 pending)"),
            std::string::npos)
      << run.out;
  bool seen = false;
  for (const json::object& line : ReadJsonl(out_)) {
    if (Field(line, "id") != long_doc) {
      EXPECT_EQ(Field(line, "status"), "done") << line;
      continue;
    }
    seen = true;
    EXPECT_EQ(Field(line, "status"), "failed") << line;
    const std::string error = Field(line, "error");
    EXPECT_TRUE(error.starts_with(fmt::format("too long for {}: ~", kLlama))) << error;
    EXPECT_NE(error.find("> its context window of 8192 (use splitting, or a model with a larger "
                         "window)"),
              std::string::npos)
        << error;
  }
  EXPECT_TRUE(seen);
}

// ---- Transient faults.

TEST_F(BatchCommandTest, TransientServiceUnavailableCostsRetriesNotDocuments) {
  // 2% of requests answered 503; seed 4 draws several among this run's requests.
  std::unique_ptr<emulator::Emulator> emulated =
      StartEmulator(EmulatorToml("2s", 100'000, 4, "0", "[faults]\nservice_unavailable = 0.02\n"));
  ASSERT_NE(emulated, nullptr);
  const std::set<std::string> ids = WriteDocuments("docs", 150, 81, 40);
  const Run run = Batch(BatchArgs({(dir_.path() / "docs").string()}, kNova,
                                  {"--endpoint-url", emulated->endpoint(), "--region", "us-east-1",
                                   "--period", "2s", "--output", "json"}));
  EXPECT_EQ(run.code, 0) << run.err;
  const json::value state = json::parse(emulated->StateJson());
  const int64_t faults = state.at("faults").at("injected").to_number<int64_t>();
  EXPECT_GE(faults, 2) << state;
  // Each document charged once: a faulted request is not charged, and its retry is admitted.
  EXPECT_EQ(state.at("keys").at(0).at("counters").at("admitted").to_number<int64_t>(),
            static_cast<int64_t>(ids.size()))
      << state;
  const json::value summary = json::parse(run.out);
  EXPECT_EQ(summary.at("succeeded").to_number<int64_t>(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(summary.at("failed").to_number<int64_t>(), 0);
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
  for (const batch::DocumentRecord& d : Documents(state_)) {
    EXPECT_EQ(d.attempts, 1) << d.id << ": a 503 is retried by the client, not the batch";
  }
}

TEST_F(BatchCommandTest, UrgentDocumentsFinishFirstAndProgressIsReportedOffATerminal) {
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 12'000, 8));
  ASSERT_NE(emulated, nullptr);
  std::mt19937 rng(17);
  for (int i = 0; i < 8; ++i) dir_.Write(fmt::format("docs/doc-{}.txt", i), Prose(rng, 4, 40));
  for (int i = 0; i < 2; ++i) {
    dir_.Write(fmt::format("docs/urgent-{}.txt", i), Prose(rng, 4, 40));
    dir_.Write(fmt::format("docs/archive/old-{}.txt", i), Prose(rng, 4, 40));
  }
  std::vector<std::string> args =
      BatchArgs({(dir_.path() / "docs").string()}, kNova,
                {"--endpoint-url", emulated->endpoint(), "--region", "us-east-1", "--period", "2s",
                 "--priority-rule", "*urgent*=high", "--priority-rule", "archive/**=low",
                 "--progress-every", "300ms"});
  args.erase(std::find(args.begin(), args.end(), "--quiet"));
  const Run run = Batch(args);
  ASSERT_EQ(run.code, 0) << run.err;
  // The quota admits about two documents a second: the order of finishing is the priority order.
  std::map<int, std::pair<int64_t, int64_t>> finished;  // priority -> (first, last)
  for (const batch::DocumentRecord& d : Documents(state_)) {
    auto [it, first] = finished.emplace(d.priority, std::pair{d.finished_at_ms, d.finished_at_ms});
    if (!first) {
      it->second.first = std::min(it->second.first, d.finished_at_ms);
      it->second.second = std::max(it->second.second, d.finished_at_ms);
    }
  }
  ASSERT_EQ(finished.size(), 3u);
  EXPECT_LE(finished[2].second, finished[1].first) << "every urgent one before any normal one";
  EXPECT_LE(finished[1].second, finished[0].first) << "every normal one before any archived one";
  // Off a terminal: a plain line per interval with the counts, the rate against the quota and ETA.
  EXPECT_NE(run.err.find("quotaflow batch: 0:0"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("docs/min"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("% of 12,000"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("ETA"), std::string::npos) << run.err;
}

// ---- Routes: one logical model over several regions.

TEST_F(BatchCommandTest, ARouteSpreadsTheBatchOverItsRegionsAndTheClassKeepsDataInEurope) {
  // Each region has its own 6,000 tokens per 2 s (the emulator keys its books by SigV4 region):
  // the 60 documents (about 160 tokens reserved each) need both regions for a few periods. The
  // route sets no limits: each target's come from Service Quotas in its own region.
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 6'000, 6));
  ASSERT_NE(emulated, nullptr);
  const std::string routes = dir_.Write("routes.toml", R"(
[[route]]
name = "contracts"
[[route.target]]
region = "us-east-1"
model = "amazon.nova-lite-v1:0"
[[route.target]]
region = "eu-west-1"
model = "amazon.nova-lite-v1:0"
[class.eu-only]
regions = ["eu-*"]
)");
  const std::set<std::string> ids = WriteDocuments("docs", 60, 91, 40);
  const std::vector<std::string> common = {
      "--endpoint-url", emulated->endpoint(), "--region", "us-east-1", "--period", "2s", "--route",
      routes,           "--output",           "json"};
  std::vector<std::string> args = common;
  const Run run = Batch(BatchArgs({(dir_.path() / "docs").string()}, "contracts", args));
  ASSERT_EQ(run.code, 0) << run.err;
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
  // Both regions served, about evenly (equal quotas), and each output line names its target.
  const json::value summary = json::parse(run.out);
  EXPECT_EQ(summary.at("throttles").to_number<int64_t>(), 0) << summary;
  EXPECT_EQ(run.err.find("conservative default"), std::string::npos)
      << "limits were not discovered in each region: " << run.err;
  const json::object& served = summary.at("served_by").as_object();
  ASSERT_EQ(served.size(), 2u) << summary;
  for (const auto& [target, n] : served) {
    EXPECT_GE(n.to_number<int64_t>(), 20) << target << " in " << summary;
  }
  std::map<std::string, int> lines_by_target;
  for (const json::object& line : ReadJsonl(out_)) lines_by_target[Field(line, "model")] += 1;
  EXPECT_EQ(lines_by_target["us-east-1/amazon.nova-lite-v1:0"],
            served.at("us-east-1/amazon.nova-lite-v1:0").to_number<int64_t>());
  EXPECT_EQ(lines_by_target["eu-west-1/amazon.nova-lite-v1:0"],
            served.at("eu-west-1/amazon.nova-lite-v1:0").to_number<int64_t>());

  // With --class eu-only, a fresh run never leaves Europe: the server's books say so.
  std::unique_ptr<emulator::Emulator> eu_emulated = StartEmulator(EmulatorToml("2s", 6'000, 6));
  ASSERT_NE(eu_emulated, nullptr);
  args = common;
  args[1] = eu_emulated->endpoint();
  args.insert(args.end(), {"--class", "eu-only"});
  state_ = dir_.path() / "eu.db";
  out_ = dir_.path() / "eu.jsonl";
  const Run eu = Batch(BatchArgs({(dir_.path() / "docs").string()}, "contracts", args));
  ASSERT_EQ(eu.code, 0) << eu.err;
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
  const json::value books = json::parse(eu_emulated->StateJson());
  for (const json::value& key : books.at("keys").as_array()) {
    if (key.at("counters").at("admitted").to_number<int64_t>() == 0) continue;
    EXPECT_TRUE(std::string(key.at("key").as_string()).starts_with("eu-west-1/"))
        << "an eu-only document was served by " << key.at("key");
  }
  // A class the route config does not define is a usage error before anything starts.
  args.back() = "ap-only";
  const Run unknown = Batch(BatchArgs({(dir_.path() / "docs").string()}, "contracts", args));
  EXPECT_EQ(unknown.code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("--class ap-only"), std::string::npos) << unknown.err;
}

// ---- How requests are made: prompt caching, document blocks, native bodies.

TEST_F(BatchCommandTest, CachePromptReadsTheSharedInstructionsFromThePromptCache) {
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 200'000, 5));
  ASSERT_NE(emulated, nullptr);
  // Long shared instructions before {document}: what a cachePoint is for.
  std::string instructions = "You review contracts for a legal team. ";
  for (int i = 0; i < 150; ++i) {
    instructions += fmt::format("Rule {}: flag any clause on topic {}. ", i, i);
  }
  prompt_ = dir_.Write("cached.txt", instructions + "\n\n{document}\n");
  const std::set<std::string> ids = WriteDocuments("docs", 6, 91, 80);
  const Run run = Batch(BatchArgs({(dir_.path() / "docs").string()}, kNova,
                                  {"--cache-prompt", "--endpoint-url", emulated->endpoint(),
                                   "--region", "us-east-1", "--period", "2s", "--output", "json"}));
  ASSERT_EQ(run.code, 0) << run.err;
  ExpectEveryDocumentDoneOnce(out_, state_, ids);
  int64_t read = 0;
  int64_t written = 0;
  for (const batch::DocumentRecord& d : Documents(state_)) {
    read += d.usage.cache_read;
    written += d.usage.cache_write;
    // Cache reads do not count against TPM: the settled charge leaves them out.
    EXPECT_EQ(d.settled_tokens, d.usage.input + d.usage.cache_write + d.usage.output) << d.id;
  }
  EXPECT_GT(written, 0) << "the first request writes the instructions to the cache";
  EXPECT_GT(read, written) << "the later ones read them from it";
  EXPECT_GT(json::parse(run.out).at("cache_read_tokens").to_number<int64_t>(), 0) << run.out;
}

TEST_F(BatchCommandTest, DocumentBlocksSendAPdfAsItIsAndCountItsTokens) {
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 200'000, 6));
  ASSERT_NE(emulated, nullptr);
  // Not valid UTF-8, so it could never be inlined as text; as a block it goes as bytes.
  std::string pdf = "%PDF-1.4\n";
  for (int i = 0; i < 2000; ++i) pdf += static_cast<char>(0x80 + i % 100);
  const std::string path = dir_.Write("docs/scan.pdf", pdf);
  const std::string text = dir_.Write("docs/note.txt", "A short note on the lease.\n");
  const fs::path blocks_state = state_;
  state_ = dir_.path() / "inline.db";
  const Run inlined = Batch(BatchArgs(
      {(dir_.path() / "docs").string()}, kNova,
      {"--endpoint-url", emulated->endpoint(), "--region", "us-east-1", "--period", "2s"}));
  EXPECT_EQ(inlined.code, 3) << "a PDF inlined as text is not UTF-8: that document fails";
  state_ = blocks_state;
  const Run blocks = Batch(BatchArgs({(dir_.path() / "docs").string()}, kNova,
                                     {"--document-blocks", "--endpoint-url", emulated->endpoint(),
                                      "--region", "us-east-1", "--period", "2s"}));
  ASSERT_EQ(blocks.code, 0) << blocks.err;
  ExpectEveryDocumentDoneOnce(out_, state_, {path, text});
}

TEST_F(BatchCommandTest, InvokeModelSendsEachFamilysNativeBody) {
  std::unique_ptr<emulator::Emulator> emulated = StartEmulator(EmulatorToml("2s", 200'000, 7));
  ASSERT_NE(emulated, nullptr);
  const std::set<std::string> ids = WriteDocuments("docs", 3, 95, 60);
  for (const char* model : {kNova, "us.anthropic.claude-3-5-haiku-20241022-v1:0", kLlama}) {
    SCOPED_TRACE(model);
    state_ = dir_.path() / fmt::format("{}.db", model);
    out_ = dir_.path() / fmt::format("{}.jsonl", model);
    const Run run = Batch(BatchArgs({(dir_.path() / "docs").string()}, model,
                                    {"--invoke-model", "--endpoint-url", emulated->endpoint(),
                                     "--region", "us-east-1", "--period", "2s"}));
    ASSERT_EQ(run.code, 0) << run.err;
    ExpectEveryDocumentDoneOnce(out_, state_, ids);
    for (const batch::DocumentRecord& d : Documents(state_)) {
      EXPECT_GT(d.usage.input, 0) << d.id << ": usage read from the native response";
      EXPECT_GT(d.usage.output, 0) << d.id;
    }
  }
}

// ---- --dry-run.

// The examples, dry run then run, with examples/emulator.toml's quota for `model` but a 6 s period
// instead of a minute and no latency: the same quota-bound run in a tenth of the time.
struct DryRunAndRun {
  int64_t counted_documents = 0;  // the dry run's input_counted_documents
  double estimate = 0;            // the dry run's estimated_seconds
  double wall = 0;                // the run's wall_seconds
  std::string text;               // both outputs, for failure messages
};

class BatchDryRunTest : public BatchCommandTest {
 protected:
  DryRunAndRun DryRunThenRun(const std::string& model) {
    const std::string config = dir_.Write(
        "emulator.toml", fmt::format("seed = 1\n"
                                     "[quotas]\nmode = \"token_bucket\"\nperiod = \"6s\"\n"
                                     "[[quotas.override]]\nmodel = \"{}\"\n"
                                     "tokens_per_minute = 180_000\n"
                                     "[output]\ndistribution = \"normal\"\nmean = 300\n"
                                     "stddev = 80\nmin = 60\nmax = 1_000\n"
                                     "[latency]\ntime_to_first_token = \"0\"\n"
                                     "per_output_token = \"0\"\njitter = \"0\"\n",
                                     model));
    const fs::path examples = fs::path(QUOTAFLOW_SOURCE_DIR) / "examples";
    prompt_ = (examples / "prompt.txt").string();
    max_tokens_ = "1000";  // the default
    const std::vector<std::string> args = BatchArgs({(examples / "contracts").string()}, model,
                                                    {"--emulate", config, "--output", "json"});
    std::vector<std::string> dry_args = args;
    dry_args.emplace_back("--dry-run");
    DryRunAndRun result;
    const auto dry = Batch(dry_args);
    EXPECT_EQ(dry.code, 0) << dry.err;
    EXPECT_FALSE(fs::exists(out_));  // nothing processed
    const auto run = Batch(args);
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(ReadJsonl(out_).size(), 30u);
    result.text = "dry run:\n" + dry.out + "run:\n" + run.out;
    const json::value dry_json = json::parse(dry.out);
    result.counted_documents = dry_json.at("input_counted_documents").to_number<int64_t>();
    result.estimate = dry_json.at("estimated_seconds").to_number<double>();
    result.wall = json::parse(run.out).at("wall_seconds").to_number<double>();
    return result;
  }
};

TEST_F(BatchDryRunTest, EstimateIsWithinTenPercentOfTheRunWhereCountTokensCounts) {
  // Claude 3.5 Haiku counts, by its bare id: the client asks for the model the profile serves.
  const DryRunAndRun r = DryRunThenRun("us.anthropic.claude-3-5-haiku-20241022-v1:0");
  EXPECT_GT(r.counted_documents, 0) << r.text;
  EXPECT_NEAR(r.estimate, r.wall, 0.1 * r.wall) << r.text;
}

TEST_F(BatchDryRunTest, WithoutCountTokensTheEstimateIsFromCharactersAndSaysSo) {
  // Nova has no CountTokens: the family heuristic alone, which these dense contracts beat by ~15%.
  const DryRunAndRun r = DryRunThenRun(kNova);
  EXPECT_EQ(r.counted_documents, 0) << r.text;
  EXPECT_NEAR(r.estimate, r.wall, 0.2 * r.wall) << r.text;
}

}  // namespace
}  // namespace quotaflow::cli
