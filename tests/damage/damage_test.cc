// Damaged-file matrix (RELIABILITY.md T4). A reference store is built once with data in SST
// files, blob files, the WAL and the MANIFEST; then, for each file type and each kind of damage,
// a fresh copy is damaged and opened read-write and read-only. The store must either refuse to
// open with a non-OK status, or serve every document read either as a non-OK status or as bytes
// exactly equal to the reference: never different bytes, never a crash. Documents that vanish
// without an error ("silent loss") are tabulated and asserted only outside the WAL: a cut-off
// tail of a synced WAL is undetectable without an external watermark (RELIABILITY.md §1).
//
// MNEME_DAMAGE_SEED picks the damage offsets; MNEME_DAMAGE_VERBOSE=1 prints every case.
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

TEST_F(DamageTest, UndamagedCopyServesEverything) {
  for (bool ro : {false, true}) {
    const fs::path dir = *root_ / "undamaged";
    CopyTree(a_->data_dir, dir);
    const Outcome o = OpenAndRead(dir.string(), *a_, ro);
    EXPECT_EQ(o.cell, "opened, 60 docs served verified, 0 reads refused; verify clean") << o.detail;
  }
}

TEST_F(DamageTest, EveryFileTypeAndDamage) {
  const uint64_t seed = DamageSeed();
  std::mt19937_64 rng(seed);
  const fs::path ref_db = fs::path(a_->data_dir) / "db";
  const fs::path other_db = fs::path(b_->data_dir) / "db";
  std::printf("damage matrix: seed=%llu (MNEME_DAMAGE_SEED); reference %s:\n", static_cast<unsigned long long>(seed),
              ref_db.c_str());
  for (const auto& e : fs::directory_iterator(ref_db)) {
    std::printf(
        "  %-24s %8llu bytes%s\n", e.path().filename().c_str(), static_cast<unsigned long long>(e.file_size()),
        fs::exists(other_db / e.path().filename()) && ReadAll(e.path()) == ReadAll(other_db / e.path().filename())
            ? "  (identical in the other store)"
            : "");
  }
  ASSERT_FALSE(FilesOfType(ref_db, "WAL").empty());
  ASSERT_GE(FilesOfType(ref_db, "SST").size(), 2u);
  ASSERT_GE(FilesOfType(ref_db, "blob").size(), 1u);
  ASSERT_GT(fs::file_size(ref_db / FilesOfType(ref_db, "WAL").back()), 10000u)
      << "the last documents must be in the WAL";

  Table table;
  int cases = 0, wrong = 0;
  std::vector<std::string> silent;
  const Clock::time_point start = Clock::now();
  for (const std::string type : {"WAL", "SST", "blob", "MANIFEST", "CURRENT", "OPTIONS", "IDENTITY"}) {
    for (const std::string& file : FilesOfType(ref_db, type)) {
      if (type == "WAL" && fs::file_size(ref_db / file) == 0) continue;  // an empty, fresh WAL
      for (const Damage& d : DamagesFor(ref_db, file, other_db, rng)) {
        for (bool ro : {false, true}) {
          ++cases;
          const fs::path dir = *root_ / "case";
          CopyTree(a_->data_dir, dir);
          const bool changed = Apply(d, dir / "db");
          const std::string name =
              absl::StrFormat("%s %s: %s @%llu.%d %s", type, file, d.label, static_cast<unsigned long long>(d.offset),
                              d.bit, ro ? "read-only" : "read-write");
          if (Verbose()) {
            std::printf("case %s ...", name.c_str());
            std::fflush(stdout);
          }
          Outcome o = OpenAndRead(dir.string(), *a_, ro);
          if (!changed) o.cell += " (file unchanged)";
          if (Verbose()) std::printf(" %s | %s\n", o.cell.c_str(), o.detail.c_str());
          table.Add(type, d.label.starts_with("swap") ? "swap (other store)" : d.label, ro ? 1 : 0, o.cell);
          if (o.wrong) {
            ++wrong;
            ADD_FAILURE() << "WRONG DATA served: " << name << ": " << o.detail;
          }
          if (o.silent_loss) {
            silent.push_back(name + ": " + o.cell + " [" + o.detail + "]");
            // Expected only where the WAL is cut, removed or replaced (undetectable without an
            // external watermark); anywhere else it is a finding.
            if (type != "WAL" && d.kind != Kind::kDeleteWithWals) ADD_FAILURE() << "silent loss: " << name;
          }
        }
      }
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  table.Print({"Store::Open read-write", "Store::Open read-only"});
  std::printf("\n%d cases in %.1f s; %d served wrong data; in %zu cases documents vanished without an error:\n", cases,
              secs, wrong, silent.size());
  for (const std::string& s : silent) std::printf("  silent loss: %s\n", s.c_str());
  EXPECT_EQ(wrong, 0);
}

// Store::Open creates the database when db/CURRENT is missing (create_if_missing, the CLI's
// default). RocksDB itself refuses that only while a WAL file is present; with CURRENT and the
// WALs gone (a partial copy, or a checkpoint directory, which has no WAL) it writes a fresh
// MANIFEST, deletes every SST and blob file as obsolete, and Store::Open returns OK on an empty
// store. Enable once Store::Open refuses a db/ that holds RocksDB files but no CURRENT.
TEST_F(DamageTest, MissingCurrentAndWalIsRefusedNotRecreated) {
  const fs::path dir = *root_ / "no_current";
  CopyTree(a_->data_dir, dir);
  for (const auto& e : fs::directory_iterator(dir / "db")) {
    const std::string n = e.path().filename().string();
    if (n == "CURRENT" || n.ends_with(".log")) fs::remove(e.path());
  }
  const std::vector<std::string> tables = FilesOfType(dir / "db", "SST");
  {
    auto st = Store::Open(dir.string(), {});
    EXPECT_EQ(st.status().code(), absl::StatusCode::kDataLoss) << st.status();
  }
  EXPECT_EQ(FilesOfType(dir / "db", "SST"), tables) << "Store::Open deleted the store's SST files";
}

}  // namespace
}  // namespace mneme::memory::damage_test
