#include "memory/internal/rocks.h"

#include <filesystem>

#include "absl/strings/str_format.h"
#include "rocksdb/convenience.h"
#include "rocksdb/file_checksum.h"
#include "rocksdb/table.h"

namespace mneme::memory::internal {
namespace {

// Read-only opens must not create files (LOG) in a directory they only read (snapshots).
class DiscardLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

}  // namespace

Rocks::~Rocks() {
  if (db) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    db->Close().PermitUncheckedError();
  }
}

rocksdb::WriteOptions Rocks::SyncWrite() const {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

absl::Status ToAbsl(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrFormat("%s: %s", what, s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsIOError()) {
    const std::string text = s.ToString();
    // "While lock file: <dir>/LOCK: ..." (another process) or "lock hold by current process".
    if (text.find("/LOCK") != std::string::npos || text.find("lock hold") != std::string::npos) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: the memory directory is open read-write in another process (%s); use --read-only to read it",
          what, s.ToString()));
    }
    if (s.IsPathNotFound() || text.find("No such file") != std::string::npos) return absl::DataLossError(msg);
    return absl::UnavailableError(msg);
  }
  if (s.IsBusy() || s.IsTryAgain() || s.IsIncomplete()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

rocksdb::DBOptions DbOptions() {
  rocksdb::DBOptions o;
  o.create_missing_column_families = true;
  o.paranoid_checks = true;
  // The default (kPointInTimeRecovery) opens silently without acknowledged writes after a
  // mid-log bit flip; this mode accepts only a torn last record (RELIABILITY.md §1).
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.file_checksum_gen_factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  o.track_and_verify_wals_in_manifest = true;
  // The small meta/text families rarely fill a memtable, so without a cap they would pin every
  // WAL (which also holds the segment values) until restart: disk use doubles and recovery
  // replays it all. Past this size RocksDB flushes the families that hold the oldest WAL.
  o.max_total_wal_size = 256ull << 20;
  o.max_background_jobs = 2;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 4 << 20;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

rocksdb::ColumnFamilyOptions CfOptions(std::string_view name) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.checksum = rocksdb::kCRC32c;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  const bool lz4 = [] {
    for (auto c : rocksdb::GetSupportedCompressions()) {
      if (c == rocksdb::kLZ4Compression) return true;
    }
    return false;
  }();
  o.compression = lz4 ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  if (name == kSegmentsCf) {
    // Segments are large and incompressible (bf16 / 8-bit codes): keep them out of the LSM tree.
    o.enable_blob_files = true;
    o.min_blob_size = 0;
    o.blob_file_size = 256ull << 20;
    o.blob_compression_type = rocksdb::kNoCompression;
    o.enable_blob_garbage_collection = true;
    o.blob_garbage_collection_age_cutoff = 0.5;
    o.compression = rocksdb::kNoCompression;
  }
  if (name == kMetaCf) o.write_buffer_size = 16 << 20;
  return o;
}

absl::Status OpenRocks(const std::string& db_dir, bool read_only, bool create, rocksdb::Env* env, Rocks* out) {
  out->db_dir = db_dir;
  out->read_only = read_only;
  std::error_code ec;
  const bool exists = std::filesystem::exists(std::filesystem::path(db_dir) / "CURRENT", ec);
  if (!exists && std::filesystem::is_directory(db_dir, ec)) {
    // Without CURRENT, RocksDB would create a new database and delete the old files as obsolete.
    for (const auto& e : std::filesystem::directory_iterator(db_dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.starts_with("MANIFEST") || n.starts_with("OPTIONS") || n.ends_with(".sst") || n.ends_with(".blob") ||
          n.ends_with(".log")) {
        return absl::DataLossError(absl::StrFormat(
            "%s holds store files (%s) but no CURRENT file: refusing to open or recreate it", db_dir, n));
      }
    }
  }
  if (!exists && (read_only || !create)) {
    return absl::NotFoundError(absl::StrFormat("no mneme store at %s", db_dir));
  }
  rocksdb::DBOptions dbo = DbOptions();
  dbo.create_if_missing = create && !read_only;
  if (read_only) dbo.info_log = std::make_shared<DiscardLogger>();
  if (env != nullptr) dbo.env = env;
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, kMetaCf, kTextCf, kSegmentsCf};
  if (exists) {
    std::vector<std::string> found;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(dbo, db_dir, &found);
    if (!s.ok()) return ToAbsl(s, "opening " + db_dir);
    for (const auto& n : found) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, CfOptions(n));
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(dbo, db_dir, cfs, &handles, &db)
                                : rocksdb::DB::Open(dbo, db_dir, cfs, &handles, &db);
  if (!s.ok()) {
    if (read_only && s.IsInvalidArgument() && !exists) return absl::NotFoundError("no mneme store at " + db_dir);
    return ToAbsl(s, "opening " + db_dir);
  }
  out->db.reset(db);
  out->handles = handles;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == kMetaCf) out->meta = handles[i];
    if (names[i] == kTextCf) out->text = handles[i];
    if (names[i] == kSegmentsCf) out->segments = handles[i];
  }
  if (!out->meta || !out->text || !out->segments) {
    return absl::DataLossError(db_dir + ": the store lacks its column families (meta, text, segments)");
  }
  return absl::OkStatus();
}

}  // namespace mneme::memory::internal
