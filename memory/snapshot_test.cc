#include "memory/snapshot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "memory/synthetic.h"
#include "memory/verify.h"

namespace mneme::memory {
namespace {

namespace fs = std::filesystem;

std::string TestDir(const std::string& tag) {
  const std::string d = (fs::path(::testing::TempDir()) / ("snap_" + std::to_string(::getpid()) + "_" + tag)).string();
  fs::remove_all(d);
  return d;
}

absl::Status AddDoc(Store& st, const SessionInfo& s, int64_t ordinal) {
  auto d = MakeSyntheticDoc(s, ordinal, 7, 1 + ordinal % 3, 120);
  if (!d.ok()) return d.status();
  return st.Append(s, DocumentWrite{d->info, d->text, d->segments}).status();
}

TEST(SnapshotTest, TakenDuringAppendsHoldsExactlyTheAcknowledgedDocuments) {
  const std::string dir = TestDir("during");
  auto st = std::move(*Store::Open(dir, {}));
  std::vector<SessionInfo> sessions;
  for (int i = 0; i < 3; ++i) sessions.push_back(*st->CreateSession(SyntheticSession("s" + std::to_string(i), 2, 2, 16)));
  std::vector<std::atomic<int64_t>> acked(sessions.size());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (size_t i = 0; i < sessions.size(); ++i) {
    writers.emplace_back([&, i] {
      for (int64_t o = 0; !stop.load() && o < 400; ++o) {
        if (!AddDoc(*st, sessions[i], o).ok()) ++failures;
        acked[i].store(o + 1);
      }
    });
  }
  while (acked[0].load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<int64_t> before, after;
  for (auto& a : acked) before.push_back(a.load());
  auto snap = CreateSnapshot(*st, "mid");
  for (auto& a : acked) after.push_back(a.load());
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(snap->sessions.size(), 3u);
  for (size_t i = 0; i < sessions.size(); ++i) {
    EXPECT_GE(snap->sessions[i].documents, before[i]) << "acknowledged before the snapshot began";
    EXPECT_LE(snap->sessions[i].documents, after[i]) << "only acknowledged by the time it returned";
  }
  ASSERT_TRUE(VerifySnapshot(dir, "mid").ok());

  const std::string target = TestDir("during_restored");
  auto restored_info = RestoreSnapshot(dir, "mid", target);
  ASSERT_TRUE(restored_info.ok()) << restored_info.status();
  auto restored = std::move(*Store::Open(target, {}));
  auto report = VerifyStore(*restored);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  for (size_t i = 0; i < sessions.size(); ++i) {
    const SessionInfo s = *restored->GetSession(sessions[i].name);
    int64_t n = 0;
    ASSERT_TRUE(restored->ScanFull(s, [&](const DocumentInfo& d, std::string_view text, const std::vector<std::string>& segs) {
      auto want = MakeSyntheticDoc(s, d.ordinal, 7, 1 + d.ordinal % 3, 120);
      EXPECT_EQ(text, want->text);
      EXPECT_EQ(segs, want->segments);
      ++n;
      return absl::OkStatus();
    }).ok());
    EXPECT_EQ(n, snap->sessions[i].documents);
    // The restored directory is a full memory directory: it takes appends.
    EXPECT_TRUE(AddDoc(*restored, s, n).ok());
  }
  // Close both stores first: an open RocksDB deletes obsolete files from background threads,
  // which races remove_all (seen once in CI as "cannot remove all: No such file or directory").
  restored.reset();
  st.reset();
  fs::remove_all(dir);
  fs::remove_all(target);
}

TEST(SnapshotTest, ListVerifyRemoveAndDamage) {
  const std::string dir = TestDir("list");
  {
    auto st = std::move(*Store::Open(dir, {}));
    SessionInfo s = *st->CreateSession(SyntheticSession("s", 2, 2, 16));
    for (int o = 0; o < 10; ++o) ASSERT_TRUE(AddDoc(*st, s, o).ok());
    ASSERT_TRUE(CreateSnapshot(*st, "a").ok());
    ASSERT_TRUE(CreateSnapshot(*st, "b").ok());
    EXPECT_EQ(CreateSnapshot(*st, "a").status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(CreateSnapshot(*st, "../x").status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto list = ListSnapshots(dir);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].sessions.at(0).documents, 10);
  ASSERT_TRUE(RemoveSnapshot(dir, "b").ok());
  EXPECT_EQ(VerifySnapshot(dir, "b").status().code(), absl::StatusCode::kNotFound);
  // A flipped byte in the manifest, in a small file and in an SST all fail verification.
  const fs::path snap = fs::path(dir) / "snapshots" / "a";
  std::vector<fs::path> targets = {snap / "manifest.json"};
  for (const auto& e : fs::directory_iterator(snap / "db")) {
    const std::string n = e.path().filename().string();
    if (n.starts_with("MANIFEST") || n.ends_with(".sst") || n.ends_with(".blob")) targets.push_back(e.path());
  }
  for (const fs::path& p : targets) {
    std::string bytes;
    {
      std::ifstream in(p, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string saved = bytes;
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
    fs::remove(p);  // hard-linked with the live store: never write through the link
    { std::ofstream(p, std::ios::binary) << bytes; }
    EXPECT_EQ(VerifySnapshot(dir, "a").status().code(), absl::StatusCode::kDataLoss) << p;
    EXPECT_FALSE(RestoreSnapshot(dir, "a", TestDir("list_restore")).ok()) << p;
    fs::remove(p);
    { std::ofstream(p, std::ios::binary) << saved; }
    EXPECT_TRUE(VerifySnapshot(dir, "a").ok()) << p;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mneme::memory
