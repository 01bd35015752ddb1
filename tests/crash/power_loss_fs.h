// A rocksdb::FileSystem that can simulate a power cut (RELIABILITY.md T2), in the manner of
// RocksDB's and LevelDB's fault-injection file systems: it writes through to the real file
// system while remembering, per file created through it, how many bytes were synced and whether
// its directory entry was synced. PowerCut() makes every later write and sync fail (so nothing is
// acknowledged after the cut); DropUnsyncedData(), called once the store is closed, then cuts each
// file back to its synced length and deletes files whose creation was never made durable by a
// directory fsync.
//
// Simplification: a rename is treated as durable at once (RocksDB fsyncs the directory right after
// its renames of CURRENT and OPTIONS anyway).
#ifndef MNEME_TESTS_CRASH_POWER_LOSS_FS_H_
#define MNEME_TESTS_CRASH_POWER_LOSS_FS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace mneme::crash_test {

class PowerLossFs final : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFs();
  const char* Name() const override { return "PowerLossFs"; }

  void PowerCut() { cut_.store(true); }
  bool cut() const { return cut_.load(); }
  // Writes, syncs and creations refused because the power was off: > 0 means the cut landed while
  // the store was writing.
  int64_t refused() const { return refused_.load(); }
  rocksdb::IOStatus Refuse() {
    refused_.fetch_add(1);
    return rocksdb::IOStatus::IOError("power cut");
  }
  // REQUIRES: every file handle from this file system is closed. Returns the files touched.
  int DropUnsyncedData();

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r, rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus RenameFile(const std::string& s, const std::string& t, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override;

  // File-state bookkeeping used by the wrappers.
  void Appended(const std::string& f, uint64_t n);
  void Synced(const std::string& f);
  void DirSynced(const std::string& dir);

 private:
  struct State {
    uint64_t written = 0, synced = 0;
    bool entry_durable = false;  // its directory was fsynced after it was created
  };
  std::atomic<bool> cut_{false};
  std::atomic<int64_t> refused_{0};
  std::mutex mu_;
  std::map<std::string, State> files_;
};

}  // namespace mneme::crash_test

#endif  // MNEME_TESTS_CRASH_POWER_LOSS_FS_H_
