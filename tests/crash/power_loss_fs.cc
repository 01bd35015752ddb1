#include "tests/crash/power_loss_fs.h"

#include <filesystem>

namespace mneme::crash_test {
namespace {

using rocksdb::IOStatus;

std::string DirOf(const std::string& f) {
  const size_t slash = f.rfind('/');
  return slash == std::string::npos ? "." : f.substr(0, slash);
}

class File final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(std::unique_ptr<rocksdb::FSWritableFile> t, PowerLossFs* fs, std::string name)
      : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (fs_->cut()) return fs_->Refuse();
    IOStatus s = target()->Append(data, o, d);
    if (s.ok()) fs_->Appended(name_, data.size());
    return s;
  }
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo&,
                  rocksdb::IODebugContext* d) override {
    return Append(data, o, d);
  }
  IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                            rocksdb::IODebugContext*) override {
    return IOStatus::NotSupported("PowerLossFs: positioned appends");
  }
  IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                            const rocksdb::DataVerificationInfo&, rocksdb::IODebugContext*) override {
    return IOStatus::NotSupported("PowerLossFs: positioned appends");
  }
  IOStatus Truncate(uint64_t, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return IOStatus::NotSupported("PowerLossFs: truncate");
  }
  IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return fs_->cut() ? fs_->Refuse() : target()->Flush(o, d);
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override { return DoSync(o, d, false); }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override { return DoSync(o, d, true); }
  IOStatus RangeSync(uint64_t, uint64_t, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return fs_->cut() ? fs_->Refuse() : IOStatus::OK();  // not a durability point
  }
  IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return target()->Close(o, d);  // closing never syncs
  }

 private:
  IOStatus DoSync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d, bool full) {
    if (fs_->cut()) return fs_->Refuse();
    IOStatus s = full ? target()->Fsync(o, d) : target()->Sync(o, d);
    if (s.ok()) fs_->Synced(name_);
    return s;
  }
  PowerLossFs* fs_;
  std::string name_;
};

class Dir final : public rocksdb::FSDirectoryWrapper {
 public:
  Dir(std::unique_ptr<rocksdb::FSDirectory> t, PowerLossFs* fs, std::string name)
      : FSDirectoryWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return FsyncWithDirOptions(o, d, rocksdb::DirFsyncOptions());
  }
  IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d,
                               const rocksdb::DirFsyncOptions& opts) override {
    if (fs_->cut()) return fs_->Refuse();
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(o, d, opts);
    if (s.ok()) fs_->DirSynced(name_);
    return s;
  }

 private:
  PowerLossFs* fs_;
  std::string name_;
};

}  // namespace

PowerLossFs::PowerLossFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

IOStatus PowerLossFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) {
  if (cut()) return Refuse();
  std::unique_ptr<rocksdb::FSWritableFile> t;
  IOStatus s = target()->NewWritableFile(f, o, &t, d);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    files_[f] = State{};
  }
  *r = std::make_unique<File>(std::move(t), this, f);
  return s;
}

IOStatus PowerLossFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                         std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) {
  if (cut()) return Refuse();
  std::unique_ptr<rocksdb::FSWritableFile> t;
  IOStatus s = target()->ReopenWritableFile(f, o, &t, d);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    if (!files_.count(f)) {  // existed before this file system: all of it is durable
      uint64_t size = 0;
      target()->GetFileSize(f, rocksdb::IOOptions(), &size, nullptr).PermitUncheckedError();
      files_[f] = State{size, size, true};
    }
  }
  *r = std::make_unique<File>(std::move(t), this, f);
  return s;
}

IOStatus PowerLossFs::NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                   std::unique_ptr<rocksdb::FSDirectory>* r, rocksdb::IODebugContext* d) {
  std::unique_ptr<rocksdb::FSDirectory> t;
  IOStatus s = target()->NewDirectory(name, o, &t, d);
  if (s.ok()) *r = std::make_unique<Dir>(std::move(t), this, name);
  return s;
}

IOStatus PowerLossFs::RenameFile(const std::string& s, const std::string& t, const rocksdb::IOOptions& o,
                                 rocksdb::IODebugContext* d) {
  if (cut()) return Refuse();
  IOStatus st = target()->RenameFile(s, t, o, d);
  if (st.ok()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(s);
    if (it != files_.end()) {
      files_[t] = it->second;
      files_.erase(s);
    }
  }
  return st;
}

IOStatus PowerLossFs::DeleteFile(const std::string& f, const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) {
  if (cut()) return Refuse();
  IOStatus s = target()->DeleteFile(f, o, d);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(f);
  }
  return s;
}

void PowerLossFs::Appended(const std::string& f, uint64_t n) {
  std::lock_guard lock(mu_);
  files_[f].written += n;
}

void PowerLossFs::Synced(const std::string& f) {
  std::lock_guard lock(mu_);
  State& st = files_[f];
  st.synced = st.written;
}

void PowerLossFs::DirSynced(const std::string& dir) {
  std::lock_guard lock(mu_);
  for (auto& [name, st] : files_) {
    if (DirOf(name) == dir || std::filesystem::path(DirOf(name)) == std::filesystem::path(dir)) st.entry_durable = true;
  }
}

int PowerLossFs::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  int touched = 0;
  std::error_code ec;
  for (const auto& [name, st] : files_) {
    if (!st.entry_durable) {
      std::filesystem::remove(name, ec);
      ++touched;
    } else if (std::filesystem::file_size(name, ec) > st.synced) {
      std::filesystem::resize_file(name, st.synced, ec);
      ++touched;
    }
  }
  files_.clear();
  return touched;
}

}  // namespace mneme::crash_test
