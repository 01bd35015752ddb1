// Damaged snapshots (RELIABILITY.md T4/T5): one file of a snapshot (memory/snapshot.h) is damaged
// at a time; VerifySnapshot must answer DataLoss and RestoreSnapshot must refuse and leave nothing
// behind, unless the damage left the file's bytes unchanged (a swap with an identical file).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "memory/internal/rocks.h"
#include "memory/snapshot.h"
#include "memory/store.h"
#include "tests/damage/damage_harness.h"

namespace mneme::memory::damage_test {
namespace {

using Clock = std::chrono::steady_clock;

// A memory directory holding snapshots "old" (the reference as built) and "snap" (after five more
// appends and a delete), and a second directory with the other store's "snap".
class SnapshotDamageTest : public DamageTest {
 protected:
  static void MakeSnapshots(const std::string& data_dir, bool with_old) {
    auto st = Store::Open(data_dir, {.create_if_missing = false});
    ASSERT_TRUE(st.ok()) << st.status();
    auto s = (*st)->GetSession(kSession);
    ASSERT_TRUE(s.ok()) << s.status();
    // Compact first, so no compaction runs while the snapshots are taken: CreateSnapshot records
    // checksums that race with compaction (SnapshotRace below).
    internal::Rocks& r = (*st)->rocks();
    for (auto* h : r.DataFamilies()) {
      ASSERT_TRUE(r.db->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr).ok());
    }
    if (with_old) {
      auto old = CreateSnapshot(**st, "old");
      ASSERT_TRUE(old.ok()) << old.status();
    }
    for (int64_t o = 60; o < 65; ++o) {
      SyntheticDoc d = Synth(*s, o);
      ASSERT_TRUE((*st)->Append(*s, DocumentWrite{d.info, d.text, d.segments}).ok());
    }
    ASSERT_TRUE((*st)->Delete(*s, 58).ok());
    auto snap = CreateSnapshot(**st, "snap");
    ASSERT_TRUE(snap.ok()) << snap.status();
  }
};

TEST_F(SnapshotDamageTest, VerifyAndRestoreRefuseEveryDamagedFile) {
  const fs::path base = *root_ / "snap_base", other = *root_ / "snap_other";
  CopyTree(a_->data_dir, base);
  CopyTree(b_->data_dir, other);
  ASSERT_NO_FATAL_FAILURE(MakeSnapshots(base.string(), true));
  ASSERT_NO_FATAL_FAILURE(MakeSnapshots(other.string(), false));
  // Baseline: the undamaged snapshot verifies and restores to exactly the live store's documents.
  {
    auto v = VerifySnapshot(base.string(), "snap");
    ASSERT_TRUE(v.ok()) << v.status();
    const fs::path target = *root_ / "restored";
    fs::remove_all(target);
    auto r = RestoreSnapshot(base.string(), "snap", target.string());
    ASSERT_TRUE(r.ok()) << r.status();
    auto live = Store::Open(base.string(), {.read_only = true, .create_if_missing = false});
    auto restored = Store::Open(target.string(), {.read_only = true, .create_if_missing = false});
    ASSERT_TRUE(live.ok() && restored.ok());
    auto s = (*live)->GetSession(kSession);
    ASSERT_TRUE(s.ok());
    std::vector<std::string> a, b;
    auto collect = [](std::vector<std::string>* out) {
      return [out](const DocumentInfo& d, std::string_view text, const std::vector<std::string>& segs) {
        out->push_back(absl::StrFormat("%d/%d/%d/", d.ordinal, d.id, d.deleted) + std::string(text) +
                       absl::StrJoin(segs, "|"));
        return absl::OkStatus();
      };
    };
    ASSERT_TRUE((*live)->ScanFull(*s, collect(&a)).ok());
    ASSERT_TRUE((*restored)->ScanFull(*s, collect(&b)).ok());
    EXPECT_EQ(a.size(), 65u);
    EXPECT_TRUE(a == b) << "the restored store differs from the snapshotted one";
    fs::remove_all(target);
  }

  const uint64_t seed = DamageSeed() + 1;
  std::mt19937_64 rng(seed);
  const fs::path snap = base / "snapshots" / "snap";
  std::printf("snapshot damage: seed=%llu; snapshot %s:\n", static_cast<unsigned long long>(seed), snap.c_str());
  std::vector<std::pair<std::string, std::string>> files;  // (subdir, name)
  for (const auto& e : fs::directory_iterator(snap / "db")) {
    const std::string n = e.path().filename().string();
    if (!TypeOf(n).empty()) files.push_back({"db", n});
    std::printf("  db/%-24s %8llu bytes\n", n.c_str(), static_cast<unsigned long long>(e.file_size()));
  }
  files.push_back({"", "manifest.json"});
  std::sort(files.begin(), files.end());

  Table table;
  int cases = 0;
  const Clock::time_point start = Clock::now();
  for (const auto& [sub, name] : files) {
    const fs::path ref_dir = sub.empty() ? snap : snap / sub;
    std::vector<Damage> damages =
        DamagesFor(ref_dir, name, sub.empty() ? other / "snapshots" / "snap" : other / "snapshots" / "snap" / sub, rng);
    // Also the same file from an older snapshot of the same store.
    const fs::path old_dir = sub.empty() ? base / "snapshots" / "old" : base / "snapshots" / "old" / sub;
    std::vector<Damage> from_old = DamagesFor(ref_dir, name, old_dir, rng);
    for (const Damage& d : from_old) {
      if (d.kind == Kind::kSwap) {
        Damage o = d;
        o.label = "swap (older snapshot" + o.label.substr(std::string("swap (other store").size());
        damages.push_back(o);
      }
    }
    for (const Damage& d : damages) {
      ++cases;
      const fs::path dir = *root_ / "snap_case";
      CopyTree(base, dir);
      const fs::path case_snap = dir / "snapshots" / "snap";
      const bool changed = Apply(d, sub.empty() ? case_snap : case_snap / sub);
      const std::string label = absl::StrFormat("%s%s: %s @%llu.%d", sub.empty() ? "" : sub + "/", name, d.label,
                                                static_cast<unsigned long long>(d.offset), d.bit);
      absl::StatusOr<SnapshotInfo> v = VerifySnapshot(dir.string(), "snap");
      const fs::path target = *root_ / "snap_restore";
      fs::remove_all(target);
      absl::StatusOr<SnapshotInfo> r = RestoreSnapshot(dir.string(), "snap", target.string());
      std::error_code ec;
      const bool target_left = fs::exists(target / "db", ec) && !fs::is_empty(target / "db", ec);
      std::string cell =
          v.ok() ? "verify OK" : absl::StrFormat("verify %s", absl::StatusCodeToString(v.status().code()));
      cell += r.ok() ? ", restore OK" : absl::StrFormat(", restore %s", absl::StatusCodeToString(r.status().code()));
      if (!changed) cell += " (file unchanged)";
      if (Verbose()) {
        std::printf("snapshot case %s: %s | %s | %s\n", label.c_str(), cell.c_str(), v.status().ToString().c_str(),
                    r.status().ToString().c_str());
      }
      const std::string type = sub.empty() ? "manifest.json" : "snapshot " + TypeOf(name);
      table.Add(type,
                d.label.starts_with("swap (other")   ? "swap (other store)"
                : d.label.starts_with("swap (older") ? "swap (older snapshot)"
                                                     : d.label,
                0, cell);
      if (changed) {
        EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << label << ": VerifySnapshot " << v.status();
        EXPECT_FALSE(r.ok()) << label << ": RestoreSnapshot accepted a damaged snapshot";
        EXPECT_FALSE(target_left) << label << ": RestoreSnapshot left files in the target";
      } else {
        EXPECT_TRUE(v.ok()) << label << " (bytes unchanged): " << v.status();
        EXPECT_TRUE(r.ok()) << label << " (bytes unchanged): " << r.status();
      }
      fs::remove_all(target);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  table.Print({"VerifySnapshot / RestoreSnapshot"});
  std::printf("\n%d snapshot cases in %.1f s\n", cases, secs);
}

// memory/snapshot.cc CreateSnapshot records the SST/blob checksums from the *live* database
// (GetLiveFilesChecksumInfo) after the checkpoint; a compaction that finishes in between drops
// checkpointed files from the live version, their manifest.json entry gets an empty checksum,
// and the healthy snapshot then fails VerifySnapshot and RestoreSnapshot forever. Here the
// reopen's recovery flush makes the third L0 file of each column family and the snapshot's own
// flush the fourth, which starts exactly that compaction. Timing dependent. Enable once the
// checksums come from the checkpoint itself.
TEST(SnapshotRace, FreshSnapshotVerifiesWhileCompactionRuns) {
  int bad = 0;
  const int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    const fs::path dir = fs::path(::testing::TempDir()) / absl::StrFormat("mneme_snaprace_%d_%d", ::getpid(), round);
    Reference ref;
    ASSERT_NO_FATAL_FAILURE(BuildStore(dir.string(), &ref));  // two flushes + a WAL, closed
    {
      auto st = Store::Open(dir.string(), {});
      ASSERT_TRUE(st.ok()) << st.status();
      for (int64_t o = 60; o < 65; ++o) {
        SyntheticDoc d = Synth(ref.session, o);
        ASSERT_TRUE((*st)->Append(ref.session, DocumentWrite{d.info, d.text, d.segments}).ok());
      }
      auto snap = CreateSnapshot(**st, "s");
      ASSERT_TRUE(snap.ok()) << snap.status();
    }
    auto v = VerifySnapshot(dir.string(), "s");
    if (!v.ok()) {
      ++bad;
      ADD_FAILURE() << "round " << round << ": a fresh, undamaged snapshot fails verification: " << v.status();
    }
    fs::remove_all(dir);
  }
  std::printf("%d of %d fresh snapshots failed VerifySnapshot\n", bad, rounds);
}

}  // namespace
}  // namespace mneme::memory::damage_test
