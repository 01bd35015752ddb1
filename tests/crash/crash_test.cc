// SIGKILL crash test (RELIABILITY.md T1): a child process appends and deletes synthetic documents
// with sync=true and acknowledges each completed mutation on a pipe; the test kills it at a random
// moment (often inside Store::Open's WAL recovery, often mid-append), reopens the store and checks
// that every acknowledged document is present with exactly its synthetic content, every
// acknowledged delete is a tombstone, and nothing is partial or fails a checksum.
//
// Environment: MNEME_CRASH_SEED (default: random, printed), MNEME_CRASH_CYCLES (default 200),
// MNEME_BINARY_DIR (set by ctest; the child is <it>/tests/crash/mneme_crash_child, else the
// directory of this binary).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "memory/segment_codec.h"
#include "memory/store.h"
#include "tests/crash/crash_workload.h"

extern char** environ;

namespace mneme::crash_test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  int64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) ? out : fallback;
}

std::string ChildPath() {
  if (const char* bin = std::getenv("MNEME_BINARY_DIR"); bin != nullptr) {
    fs::path p = fs::path(bin) / "tests" / "crash" / "mneme_crash_child";
    if (fs::exists(p)) return p.string();
  }
  std::error_code ec;
  return (fs::read_symlink("/proc/self/exe", ec).parent_path() / "mneme_crash_child").string();
}

// What one child run printed before it was killed: whole lines only.
struct ChildRun {
  std::vector<int64_t> acks, dels;
  bool ready = false;
  double ready_ms = -1;   // spawn -> READY
  int partial_lines = 0;  // a line cut by the kill (not counted as acknowledged)
  int exit_status = 0;    // waitpid status
};

void ParseLine(const std::string& line, ChildRun* run) {
  int64_t v = 0;
  if (line.rfind("ACK ", 0) == 0 && absl::SimpleAtoi(line.substr(4), &v)) {
    run->acks.push_back(v);
  } else if (line.rfind("DEL ", 0) == 0 && absl::SimpleAtoi(line.substr(4), &v)) {
    run->dels.push_back(v);
  } else if (line.rfind("READY ", 0) == 0) {
    run->ready = true;
  } else {
    ADD_FAILURE() << "unexpected child output: " << line;
  }
}

// Spawns the child on `dir`, reads its stdout until `deadline_ms` after the spawn, SIGKILLs it,
// reaps it and drains the pipe.
ChildRun RunChildUntil(const std::string& child, const std::string& dir, int deadline_ms) {
  ChildRun run;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return run;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC
  std::vector<char*> argv = {const_cast<char*>(child.c_str()), const_cast<char*>(dir.c_str()), nullptr};
  const Clock::time_point start = Clock::now();
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, child.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "posix_spawn " << child << ": " << std::strerror(rc);
    return run;
  }
  const Clock::time_point deadline = start + std::chrono::milliseconds(deadline_ms);
  std::string buf;
  auto consume = [&](bool final) {
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      const std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      ParseLine(line, &run);
      if (run.ready && run.ready_ms < 0) {
        run.ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      }
    }
    if (final && !buf.empty()) ++run.partial_lines;
  };
  char chunk[4096];
  bool eof = false;
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // timeout: loop re-checks the deadline
    const ssize_t got = ::read(fds[0], chunk, sizeof(chunk));
    if (got > 0) {
      buf.append(chunk, static_cast<size_t>(got));
      consume(false);
    } else if (got == 0 || errno != EINTR) {
      eof = true;  // the child died on its own
    }
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &run.exit_status, 0) < 0 && errno == EINTR) {
  }
  // Lines the child wrote before it died count as acknowledged: drain the pipe.
  for (;;) {
    const ssize_t got = ::read(fds[0], chunk, sizeof(chunk));
    if (got > 0) {
      buf.append(chunk, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    break;
  }
  consume(true);
  ::close(fds[0]);
  return run;
}

struct Totals {
  int64_t cycles = 0, acked = 0, acked_deletes = 0, unacked_present = 0, cycles_without_ack = 0;
  int64_t docs_checked = 0, full_scans = 0, full_scan_docs = 0;
  int64_t lost = 0, partial = 0, mismatched = 0, checksum_failures = 0, undone_deletes = 0, other_errors = 0;
  double ready_ms_sum = 0;
  int64_t ready_count = 0;
};

// The checker's model of the store: what must be there, what may be.
class CrashChecker {
 public:
  explicit CrashChecker(Totals* t) : t_(t) {}

  void AddRun(const ChildRun& run) {
    // The child starts at the NextOrdinal this checker saw last and acknowledges in order.
    for (size_t i = 0; i < run.acks.size(); ++i) {
      const int64_t want = i == 0 ? next_ : run.acks[i - 1] + 1;
      EXPECT_EQ(run.acks[i], want) << "acknowledgements out of order";
      acked_next_ = std::max(acked_next_, run.acks[i] + 1);
    }
    for (int64_t o : run.dels) acked_deletes_.insert(o);
    t_->acked += static_cast<int64_t>(run.acks.size());
    t_->acked_deletes += static_cast<int64_t>(run.dels.size());
    if (run.acks.empty()) ++t_->cycles_without_ack;
    new_deletes_.insert(run.dels.begin(), run.dels.end());
  }

  // Checks the store after a kill: the new documents, the new deletes' targets and a ~1% sample
  // of older documents (all of them when `full`, through ScanFull).
  void Check(const memory::Store& store, std::mt19937_64& rng, bool full) {
    absl::StatusOr<memory::SessionInfo> s = store.GetSession(kSessionName);
    if (absl::IsNotFound(s.status())) {
      if (acked_next_ > 0 || known_next_ > 0 || session_.has_value()) {
        ADD_FAILURE() << "the session is gone: " << s.status();
        t_->lost += std::max(acked_next_, known_next_);
      }
      return;
    }
    if (!s.ok()) {
      ADD_FAILURE() << "GetSession: " << s.status();
      ++t_->other_errors;
      return;
    }
    if (session_.has_value()) {
      EXPECT_EQ(s->id, session_->id) << "the session changed identity";
    }
    session_ = *s;
    absl::StatusOr<int64_t> next = store.NextOrdinal(s->id);
    if (!next.ok()) {
      ADD_FAILURE() << "NextOrdinal: " << next.status();
      ++t_->other_errors;
      return;
    }
    next_ = *next;
    const int64_t must_have = std::max(acked_next_, known_next_);
    for (int64_t o = next_; o < must_have; ++o) {
      ADD_FAILURE() << absl::StrFormat("document %d lost (acknowledged or seen before; next ordinal is %d)", o, next_);
      ++t_->lost;
    }
    t_->unacked_present += std::max<int64_t>(0, next_ - std::max(acked_next_, known_next_));

    if (full) {
      FullScan(store);
    } else {
      std::set<int64_t> todo;
      for (int64_t o = checked_next_; o < next_; ++o) todo.insert(o);
      for (int64_t target : new_deletes_) todo.insert(target);
      // Targets whose trigger + 1 now exists must have become tombstones.
      for (int64_t o = std::max<int64_t>(0, checked_next_ - 8); o < next_; ++o) {
        if (IsDeleteTarget(o)) todo.insert(o);
      }
      if (checked_next_ > 0) {
        const int64_t sample = std::max<int64_t>(1, checked_next_ / 100);
        std::uniform_int_distribution<int64_t> pick(0, checked_next_ - 1);
        for (int64_t i = 0; i < sample; ++i) todo.insert(pick(rng));
      }
      for (int64_t o : todo) {
        if (o < next_) CheckOne(store, o);
      }
    }
    known_next_ = std::max(known_next_, next_);
    checked_next_ = next_;
    new_deletes_.clear();
  }

  int64_t next() const { return next_; }

 private:
  enum class Want { kLive, kTombstone, kEither };

  Want Expect(int64_t o) const {
    if (acked_deletes_.count(o) || seen_deleted_.count(o)) return Want::kTombstone;
    if (!IsDeleteTarget(o)) return Want::kLive;
    const int64_t trigger = DeleteTriggerOf(o);
    if (trigger >= next_) return Want::kLive;          // the delete was never issued
    if (trigger + 1 < next_) return Want::kTombstone;  // it completed before the next append
    return Want::kEither;                              // the trigger is the last document
  }

  static bool IsMissing(const absl::Status& s) {
    return absl::IsDataLoss(s) && s.message().find("missing") != std::string_view::npos;
  }

  // A text or segment read that failed: missing bytes are a partial document, other DataLoss a
  // checksum failure.
  void CountFailedRead(const absl::Status& s) {
    if (IsMissing(s)) {
      ++t_->partial;
    } else if (absl::IsDataLoss(s)) {
      ++t_->checksum_failures;
    } else {
      ++t_->other_errors;
    }
  }

  // Compares one live document's record, text and segments with the synthetic original.
  void CheckLive(const memory::DocumentInfo& d, const std::string* text, const std::vector<std::string>* segs,
                 const memory::Store* store) {
    const memory::SessionInfo& s = *session_;
    absl::StatusOr<memory::SyntheticDoc> want = CrashDoc(s, d.ordinal);
    ASSERT_TRUE(want.ok()) << want.status();
    int64_t seg_bytes = 0;
    for (const auto& seg : want->segments) seg_bytes += static_cast<int64_t>(seg.size());
    if (d.id != want->info.id || d.chunks != want->info.chunks || d.tokens != want->info.tokens ||
        d.source != want->info.source || d.codec != want->info.codec ||
        d.text_bytes != static_cast<int64_t>(want->text.size()) || d.segment_bytes != seg_bytes) {
      ADD_FAILURE() << "document " << d.ordinal << ": record differs from what was appended";
      ++t_->mismatched;
      return;
    }
    // Text.
    std::string got_text;
    if (text != nullptr) {
      got_text = *text;
    } else {
      absl::StatusOr<std::string> t = store->GetText(s.id, d);
      if (!t.ok()) {
        ADD_FAILURE() << "document " << d.ordinal << ": " << t.status();
        CountFailedRead(t.status());
        return;
      }
      got_text = *std::move(t);
    }
    if (got_text != want->text) {
      ADD_FAILURE() << "document " << d.ordinal << ": text differs";
      ++t_->mismatched;
      return;
    }
    // Segments.
    absl::StatusOr<uint64_t> fp = memory::FingerprintValue(s.fingerprint);
    ASSERT_TRUE(fp.ok());
    for (size_t i = 0; i < s.layers.size(); ++i) {
      std::string got;
      if (segs != nullptr) {
        if (i >= segs->size()) {
          ADD_FAILURE() << "document " << d.ordinal << ": ScanFull gave " << segs->size() << " segments";
          ++t_->partial;
          return;
        }
        got = (*segs)[i];
      } else {
        absl::StatusOr<std::string> g = store->GetSegment(s.id, d.ordinal, s.layers[i]);
        if (!g.ok()) {
          ADD_FAILURE() << "document " << d.ordinal << " layer " << s.layers[i] << ": " << g.status();
          CountFailedRead(g.status());
          return;
        }
        got = *std::move(g);
      }
      if (got != want->segments[i]) {
        ADD_FAILURE() << "document " << d.ordinal << " layer " << s.layers[i] << ": segment bytes differ";
        ++t_->mismatched;
        return;
      }
      const memory::SegmentKey key{*fp, s.id, d.id, static_cast<uint32_t>(s.layers[i])};
      absl::StatusOr<memory::DecodedSegment> dec = memory::DecodeSegment(got, key);
      if (!dec.ok() || dec->shape.chunks != static_cast<uint32_t>(d.chunks)) {
        ADD_FAILURE() << "document " << d.ordinal << " layer " << s.layers[i] << ": "
                      << (dec.ok() ? absl::DataLossError("chunk count") : dec.status());
        ++t_->checksum_failures;
        return;
      }
    }
  }

  // A tombstone must hold no text and no segments.
  void CheckTombstone(const memory::Store& store, const memory::DocumentInfo& d) {
    absl::StatusOr<std::string> t = store.GetText(session_->id, d);
    EXPECT_TRUE(absl::IsFailedPrecondition(t.status())) << t.status();
    for (int layer : session_->layers) {
      absl::StatusOr<std::string> g = store.GetSegment(session_->id, d.ordinal, layer);
      if (g.ok() || !IsMissing(g.status())) {
        ADD_FAILURE() << "tombstone " << d.ordinal << " layer " << layer << " still has a segment: " << g.status();
        ++t_->partial;
        return;
      }
    }
  }

  void Classify(const memory::DocumentInfo& d, bool* live_ok) {
    *live_ok = false;
    const Want want = Expect(d.ordinal);
    if (d.deleted) {
      if (want == Want::kLive) {
        ADD_FAILURE() << "document " << d.ordinal << " is a tombstone but was never deleted";
        ++t_->lost;
        return;
      }
      seen_deleted_.insert(d.ordinal);
      return;
    }
    if (want == Want::kTombstone) {
      ADD_FAILURE() << "document " << d.ordinal << ": its acknowledged delete was undone";
      ++t_->undone_deletes;
      return;
    }
    *live_ok = true;
  }

  void CheckOne(const memory::Store& store, int64_t o) {
    ++t_->docs_checked;
    absl::StatusOr<memory::DocumentInfo> d = store.GetDocument(session_->id, o);
    if (absl::IsNotFound(d.status())) {
      ADD_FAILURE() << "document " << o << " lost (below next ordinal " << next_ << ")";
      ++t_->lost;
      return;
    }
    if (!d.ok()) {
      ADD_FAILURE() << "document " << o << ": " << d.status();
      ++(absl::IsDataLoss(d.status()) ? t_->checksum_failures : t_->other_errors);
      return;
    }
    bool live = false;
    Classify(*d, &live);
    if (live) {
      CheckLive(*d, nullptr, nullptr, &store);
    } else if (d->deleted) {
      CheckTombstone(store, *d);
    }
  }

  void FullScan(const memory::Store& store) {
    ++t_->full_scans;
    int64_t expect = 0;
    absl::Status st = store.ScanFull(
        *session_, [&](const memory::DocumentInfo& d, std::string_view text, const std::vector<std::string>& segs) {
          if (d.ordinal != expect) {
            ADD_FAILURE() << "full scan: document " << d.ordinal << " follows " << expect - 1 << " (hole)";
            ++t_->lost;
          }
          expect = d.ordinal + 1;
          ++t_->full_scan_docs;
          bool live = false;
          Classify(d, &live);
          if (live) {
            const std::string t(text);
            CheckLive(d, &t, &segs, nullptr);
          } else if (d.deleted && !segs.empty()) {
            ++t_->partial;
          }
          return absl::OkStatus();
        });
    if (!st.ok()) {
      ADD_FAILURE() << "ScanFull: " << st;
      ++(absl::IsDataLoss(st) ? t_->checksum_failures : t_->other_errors);
    }
    EXPECT_EQ(expect, next_) << "full scan ended before the next ordinal";
  }

  Totals* t_;
  std::optional<memory::SessionInfo> session_;
  int64_t acked_next_ = 0;    // one past the highest acknowledged append
  int64_t known_next_ = 0;    // ordinals below were present at an earlier check: must stay
  int64_t checked_next_ = 0;  // ordinals below were verified at an earlier check
  int64_t next_ = 0;          // NextOrdinal at the current check
  std::set<int64_t> acked_deletes_, seen_deleted_, new_deletes_;
};

TEST(CrashTest, SigkillDuringAppendsLosesNothingAcknowledged) {
  const uint64_t seed =
      static_cast<uint64_t>(EnvInt("MNEME_CRASH_SEED", static_cast<int64_t>(std::random_device{}() & 0x7fffffff)));
  const int64_t cycles = EnvInt("MNEME_CRASH_CYCLES", 200);
  std::printf("crash test: seed=%llu cycles=%lld (rerun with MNEME_CRASH_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(cycles),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const std::string child = ChildPath();
  ASSERT_TRUE(fs::exists(child)) << "missing child binary " << child;
  const std::string dir = (fs::path(::testing::TempDir()) / absl::StrFormat("mneme_crash_%d", ::getpid())).string();
  fs::remove_all(dir);

  Totals t;
  CrashChecker checker(&t);
  const Clock::time_point start = Clock::now();
  std::uniform_int_distribution<int> deadline_ms(10, 150);
  std::uniform_int_distribution<int> coin(0, 1);
  for (int64_t cycle = 1; cycle <= cycles; ++cycle) {
    const int deadline = deadline_ms(rng);
    const ChildRun run = RunChildUntil(child, dir, deadline);
    ASSERT_TRUE(WIFSIGNALED(run.exit_status) && WTERMSIG(run.exit_status) == SIGKILL)
        << "cycle " << cycle << ": the child exited by itself (status " << run.exit_status << "); see its stderr";
    ++t.cycles;
    if (run.ready_ms >= 0) {
      t.ready_ms_sum += run.ready_ms;
      ++t.ready_count;
    }
    checker.AddRun(run);

    // Reopen as a restarted server would (read-write: recovery flushes the WAL) or as a reader.
    const bool read_only = coin(rng) == 1;
    const bool full = cycle % 25 == 0 || cycle == cycles;
    {
      auto store = memory::Store::Open(dir, {.read_only = read_only, .create_if_missing = false});
      if (absl::IsNotFound(store.status()) && t.acked == 0) continue;  // killed before the store existed
      ASSERT_TRUE(store.ok()) << "cycle " << cycle << " (deadline " << deadline << " ms, "
                              << (read_only ? "read-only" : "read-write") << "): " << store.status();
      checker.Check(**store, rng, full);
    }  // closed before the next child opens it
    if (::testing::Test::HasFailure()) {
      std::printf("first failure at cycle %lld (deadline %d ms); store kept at %s\n", static_cast<long long>(cycle),
                  deadline, dir.c_str());
      break;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "crash test totals: cycles=%lld acked=%lld acked_deletes=%lld unacked_present=%lld "
      "cycles_without_ack=%lld docs_checked=%lld full_scans=%lld full_scan_docs=%lld | lost=%lld partial=%lld "
      "mismatched=%lld checksum_failures=%lld undone_deletes=%lld other_errors=%lld | child open->READY avg %.1f ms | "
      "%.1f s wall, seed=%llu\n",
      static_cast<long long>(t.cycles), static_cast<long long>(t.acked), static_cast<long long>(t.acked_deletes),
      static_cast<long long>(t.unacked_present), static_cast<long long>(t.cycles_without_ack),
      static_cast<long long>(t.docs_checked), static_cast<long long>(t.full_scans),
      static_cast<long long>(t.full_scan_docs), static_cast<long long>(t.lost), static_cast<long long>(t.partial),
      static_cast<long long>(t.mismatched), static_cast<long long>(t.checksum_failures),
      static_cast<long long>(t.undone_deletes), static_cast<long long>(t.other_errors),
      t.ready_count ? t.ready_ms_sum / static_cast<double>(t.ready_count) : 0.0, secs,
      static_cast<unsigned long long>(seed));
  EXPECT_GE(t.cycles, cycles);
  if (std::getenv("MNEME_CRASH_CYCLES") == nullptr) {
    EXPECT_GE(t.cycles, 200) << "T1 requires >= 200 cycles";
  }
  EXPECT_GT(t.acked, 0);
  EXPECT_EQ(t.lost, 0);
  EXPECT_EQ(t.partial, 0);
  EXPECT_EQ(t.mismatched, 0);
  EXPECT_EQ(t.checksum_failures, 0);
  EXPECT_EQ(t.undone_deletes, 0);
  EXPECT_EQ(t.other_errors, 0);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace mneme::crash_test
