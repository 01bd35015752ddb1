// Power-loss test (RELIABILITY.md T2): writers append to two sessions through PowerLossFs; at a
// random moment the power is cut (every later write and sync fails), the store is closed, every
// byte that was not synced and every file whose creation was not made durable is dropped, and the
// store is reopened with the real file system. Each session must hold a prefix of its appends
// that includes every acknowledged one (no holes), every document whole and equal to what was
// written, every acknowledged delete a tombstone, and verify must find nothing.
//   MNEME_POWER_SEED   seed (printed; random by default)
//   MNEME_POWER_CYCLES cycles (default 100)
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "memory/store.h"
#include "memory/synthetic.h"
#include "memory/verify.h"
#include "tests/crash/crash_workload.h"
#include "tests/crash/power_loss_fs.h"

namespace mneme::crash_test {
namespace {

namespace fs = std::filesystem;

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : def;
}

absl::StatusOr<memory::SyntheticDoc> DocFor(const memory::SessionInfo& s, int64_t ordinal) {
  return memory::MakeSyntheticDoc(s, ordinal, kDocSeed, ChunksFor(ordinal), TextBytesFor(ordinal));
}

struct Acks {
  std::atomic<int64_t> appended{0};  // ordinals [0, appended) acknowledged
  std::vector<int64_t> deleted;      // acknowledged deletes (written by its writer only)
};

TEST(PowerLossTest, AcknowledgedAppendsSurvivePowerCuts) {
  const uint64_t seed = EnvOr("MNEME_POWER_SEED", std::random_device{}());
  const int cycles = static_cast<int>(EnvOr("MNEME_POWER_CYCLES", 100));
  std::printf("power-loss test: seed %llu, %d cycles\n", static_cast<unsigned long long>(seed), cycles);
  std::mt19937_64 rng(seed);
  const std::string dir = (fs::path(::testing::TempDir()) / ("power_loss_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  const std::vector<std::string> names = {"a", "b"};
  std::vector<Acks> acks(names.size());
  int64_t dropped_files = 0, unacked_present = 0, refused = 0, cycles_cut_mid_write = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    auto plfs = std::make_shared<PowerLossFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(plfs);
    std::vector<memory::SessionInfo> sessions;
    {
      auto opened = memory::Store::Open(dir, memory::StoreOptions{.env = env.get()});
      ASSERT_TRUE(opened.ok()) << "cycle " << cycle << ": " << opened.status();
      memory::Store& store = **opened;
      for (const std::string& n : names) {
        auto s = store.GetSession(n);
        if (absl::IsNotFound(s.status())) {
          memory::SessionInfo shape = CrashSessionShape();
          shape.name = n;
          s = store.CreateSession(shape);
        }
        ASSERT_TRUE(s.ok()) << s.status();
        sessions.push_back(*s);
      }
      std::thread cutter([&, delay = std::uniform_int_distribution<int>(5, 80)(rng)] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        plfs->PowerCut();
      });
      std::vector<std::thread> writers;
      for (size_t i = 0; i < sessions.size(); ++i) {
        writers.emplace_back([&, i] {
          const memory::SessionInfo& s = sessions[i];
          absl::StatusOr<int64_t> next = store.NextOrdinal(s.id);
          if (!next.ok()) return;
          for (int64_t o = *next; !plfs->cut(); ++o) {
            auto d = DocFor(s, o);
            if (!d.ok() || !store.Append(s, memory::DocumentWrite{d->info, d->text, d->segments}).ok()) return;
            acks[i].appended.store(o + 1);
            if (DeletesAfter(o)) {
              if (!store.Delete(s, DeleteTargetOf(o)).ok()) return;
              acks[i].deleted.push_back(DeleteTargetOf(o));
            }
          }
        });
      }
      cutter.join();
      for (auto& w : writers) w.join();
    }  // the store closes with the power off: nothing more reaches the disk
    dropped_files += plfs->DropUnsyncedData();
    refused += plfs->refused();
    cycles_cut_mid_write += plfs->refused() > 0;

    auto reopened = memory::Store::Open(dir, {});
    ASSERT_TRUE(reopened.ok()) << "cycle " << cycle << ": " << reopened.status();
    for (size_t i = 0; i < sessions.size(); ++i) {
      const memory::SessionInfo& s = sessions[i];
      int64_t expect = 0;
      absl::Status scan = (*reopened)->ScanFull(s, [&](const memory::DocumentInfo& d, std::string_view text,
                                                        const std::vector<std::string>& segs) -> absl::Status {
        if (d.ordinal != expect) return absl::DataLossError("hole before ordinal " + std::to_string(d.ordinal));
        ++expect;
        if (d.deleted) return absl::OkStatus();
        auto want = DocFor(s, d.ordinal);
        if (!want.ok() || text != want->text || segs != want->segments) {
          return absl::DataLossError("document " + std::to_string(d.ordinal) + " differs from what was written");
        }
        return absl::OkStatus();
      });
      ASSERT_TRUE(scan.ok()) << "cycle " << cycle << " session " << s.name << ": " << scan;
      ASSERT_GE(expect, acks[i].appended.load()) << "cycle " << cycle << " session " << s.name
                                                 << ": acknowledged documents lost";
      unacked_present += expect - acks[i].appended.load();
      acks[i].appended.store(expect);  // un-acked but durable documents are part of the prefix now
      for (int64_t o : acks[i].deleted) {
        auto d = (*reopened)->GetDocument(s.id, o);
        ASSERT_TRUE(d.ok() && d->deleted) << "cycle " << cycle << ": acknowledged delete of " << o << " undone";
      }
    }
    auto report = memory::VerifyStore(**reopened);
    ASSERT_TRUE(report.ok());
    ASSERT_TRUE(report->ok()) << "cycle " << cycle << ": " << report->problems[0].Describe();
  }
  std::printf("power-loss test: %d cycles (%lld cut a write in flight, %lld operations refused), %lld + %lld "
              "documents acknowledged, %lld un-acknowledged found durable, %lld files cut back or dropped, 0 lost\n",
              cycles, static_cast<long long>(cycles_cut_mid_write), static_cast<long long>(refused),
              static_cast<long long>(acks[0].appended.load()), static_cast<long long>(acks[1].appended.load()),
              static_cast<long long>(unacked_present), static_cast<long long>(dropped_files));
  // Every write is synced, so there is rarely unsynced data to drop; what matters is that cuts
  // land while documents are being written (a store that acknowledged before syncing fails here:
  // checked by making Rocks::SyncWrite use sync=false).
  EXPECT_GE(cycles_cut_mid_write, cycles / 2) << "the cuts did not interrupt writes: the test exercised nothing";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mneme::crash_test
