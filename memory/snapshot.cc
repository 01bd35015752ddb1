#include "memory/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/crc32c.h"
#include "memory/internal/rocks.h"
#include "memory/store_stats.h"
#include "memory/verify.h"
#include "rocksdb/file_checksum.h"
#include "rocksdb/utilities/checkpoint.h"

namespace mneme::memory {
namespace {

namespace fs = std::filesystem;
constexpr int kManifestFormat = 1;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// SST and blob files are checked by RocksDB's whole-file checksums (recorded in its MANIFEST,
// which this manifest covers by CRC); everything else by a CRC-32C here.
bool RocksChecked(const std::string& name) {
  return name.ends_with(".sst") || name.ends_with(".blob");
}

bool IsLog(const std::string& name) { return name.starts_with("LOG"); }  // info logs, not data

absl::StatusOr<uint32_t> FileCrc(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  std::string buf(1 << 20, '\0');
  uint32_t crc = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "read", path);
    }
    if (n == 0) break;
    crc = Crc32cExtend(crc, buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return crc;
}

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += absl::StrFormat("%02x", c);
  return out;
}

// RocksDB's recorded whole-file checksums by file number.
std::map<uint64_t, std::string> RocksChecksums(rocksdb::DB* db) {
  std::map<uint64_t, std::string> out;
  std::unique_ptr<rocksdb::FileChecksumList> list(rocksdb::NewFileChecksumList());
  if (!db->GetLiveFilesChecksumInfo(list.get()).ok()) return out;
  std::vector<uint64_t> numbers;
  std::vector<std::string> sums, funcs;
  if (!list->GetAllFileChecksums(&numbers, &sums, &funcs).ok()) return out;
  for (size_t i = 0; i < numbers.size(); ++i) out[numbers[i]] = Hex(sums[i]);
  return out;
}

uint64_t FileNumber(const std::string& name) { return std::strtoull(name.c_str(), nullptr, 10); }

absl::StatusOr<std::vector<SnapshotSessionCount>> CountSessions(const Store& store) {
  std::vector<SnapshotSessionCount> out;
  MNEME_ASSIGN_OR_RETURN(std::vector<SessionInfo> sessions, store.ListSessions());
  for (const SessionInfo& s : sessions) {
    MNEME_ASSIGN_OR_RETURN(DocumentCounts n, CountDocuments(store, s.id));
    SnapshotSessionCount c{s.name, n.documents, n.live_documents, n.tokens, n.chunks};
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::json CountsJson(const std::vector<SnapshotSessionCount>& counts) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : counts) {
    a.push_back({{"name", c.name}, {"documents", c.documents}, {"live_documents", c.live_documents},
                 {"tokens", c.tokens}, {"chunks", c.chunks}});
  }
  return a;
}

std::string SnapshotDir(const std::string& data_dir, std::string_view name) {
  return (fs::path(data_dir) / "snapshots" / std::string(name)).string();
}

// Reads and checks manifest.json's own CRC.
absl::StatusOr<nlohmann::json> ReadManifest(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  MNEME_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{64} << 20));
  absl::StatusOr<nlohmann::json> j = ParseJson(text, path);
  if (!j.ok()) return absl::DataLossError(std::string(j.status().message()));
  if (!j->is_object() || !j->contains("checksum") || !(*j)["checksum"].is_string()) {
    return absl::DataLossError(path + ": no checksum");
  }
  const std::string want = (*j)["checksum"].get<std::string>();
  nlohmann::json body = *j;
  body.erase("checksum");
  const std::string dumped = DumpJson(body);
  if (absl::StrFormat("%08x", Crc32c(dumped.data(), dumped.size())) != want) {
    return absl::DataLossError(path + ": manifest checksum mismatch");
  }
  try {
    if ((*j)["format"].get<int>() != kManifestFormat) {
      return absl::FailedPreconditionError(path + ": unknown manifest format");
    }
    (void)(*j)["files"].at(0);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrFormat("%s: malformed manifest: %s", path, e.what()));
  }
  return *j;
}

SnapshotInfo InfoOf(const nlohmann::json& m, const std::string& dir) {
  SnapshotInfo info;
  info.name = m.value("name", std::string());
  info.path = dir;
  info.created_unix = m.value("created_unix", int64_t{0});
  info.sequence = m.value("sequence", uint64_t{0});
  for (const auto& f : m["files"]) {
    ++info.files;
    info.bytes += f.value("bytes", int64_t{0});
  }
  for (const auto& c : m.value("sessions", nlohmann::json::array())) {
    info.sessions.push_back({c.value("name", std::string()), c.value("documents", int64_t{0}),
                             c.value("live_documents", int64_t{0}), c.value("tokens", int64_t{0}),
                             c.value("chunks", int64_t{0})});
  }
  return info;
}

absl::Status CheckName(std::string_view name) {
  absl::Status s = ValidateSessionName(name);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrFormat("invalid snapshot name '%s'", name));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SnapshotInfo> CreateSnapshot(Store& store, std::string_view name) {
  MNEME_RETURN_IF_ERROR(CheckName(name));
  if (store.read_only()) return absl::FailedPreconditionError("snapshots need the store open read-write");
  const auto t0 = std::chrono::steady_clock::now();
  internal::Rocks& r = store.rocks();
  const std::string final_dir = SnapshotDir(r.data_dir, name);
  const std::string tmp = (fs::path(r.data_dir) / "snapshots" / (".tmp-" + std::string(name))).string();
  std::error_code ec;
  if (fs::exists(final_dir, ec)) return absl::AlreadyExistsError(absl::StrFormat("snapshot '%s' exists", name));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrFormat("cannot create %s: %s", tmp, ec.message()));
  const std::string db_dir = tmp + "/db";
  uint64_t sequence = 0;
  std::map<uint64_t, std::string> sums;
  {
    std::unique_lock gate(r.write_gate);  // no mutation in flight: exactly the acknowledged ones
    rocksdb::Checkpoint* raw = nullptr;
    MNEME_RETURN_IF_ERROR(internal::ToAbsl(rocksdb::Checkpoint::Create(r.db.get(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    MNEME_RETURN_IF_ERROR(internal::ToAbsl(cp->CreateCheckpoint(db_dir, 0, &sequence), "creating checkpoint"));
  }
  // Checksums and counts come from the checkpoint itself: the live store keeps compacting.
  std::vector<SnapshotSessionCount> counts;
  {
    MNEME_ASSIGN_OR_RETURN(auto view, Store::Open(tmp, StoreOptions{.read_only = true}));
    sums = RocksChecksums(view->rocks().db.get());
    MNEME_ASSIGN_OR_RETURN(counts, CountSessions(*view));
  }
  nlohmann::json files = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(db_dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    if (IsLog(n)) continue;
    const std::string path = db_dir + "/" + n;
    nlohmann::json f = {{"name", n}, {"bytes", static_cast<int64_t>(fs::file_size(path, ec))}};
    if (RocksChecked(n)) {
      auto it = sums.find(FileNumber(n));
      f["rocksdb_crc32c"] = it == sums.end() ? "" : it->second;
    } else {
      MNEME_ASSIGN_OR_RETURN(uint32_t crc, FileCrc(path));
      f["crc32c"] = absl::StrFormat("%08x", crc);
    }
    MNEME_RETURN_IF_ERROR(SyncPath(path));
    files.push_back(std::move(f));
  }
  MNEME_RETURN_IF_ERROR(SyncPath(db_dir));
  nlohmann::json m = {{"format", kManifestFormat},
                      {"name", std::string(name)},
                      {"created_unix", std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch()).count()},
                      {"sequence", sequence},
                      {"files", files},
                      {"sessions", CountsJson(counts)}};
  const std::string body = DumpJson(m);
  m["checksum"] = absl::StrFormat("%08x", Crc32c(body.data(), body.size()));
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(tmp + "/manifest.json", DumpJson(m)));
  MNEME_RETURN_IF_ERROR(SyncPath(tmp));
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrFormat("renaming %s: %s", tmp, ec.message()));
  MNEME_RETURN_IF_ERROR(SyncPath((fs::path(r.data_dir) / "snapshots").string()));
  SnapshotInfo info = InfoOf(m, final_dir);
  info.seconds = Seconds(t0);
  return info;
}

absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& data_dir) {
  std::vector<SnapshotInfo> out;
  const fs::path root = fs::path(data_dir) / "snapshots";
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with(".")) continue;  // interrupted creations
    absl::StatusOr<nlohmann::json> m = ReadManifest(e.path().string());
    SnapshotInfo info;
    if (m.ok()) {
      info = InfoOf(*m, e.path().string());
    } else {
      info.name = n;
      info.path = e.path().string();
      info.created_unix = -1;  // damaged: listed so it can be verified or removed
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<SnapshotInfo> VerifySnapshot(const std::string& data_dir, std::string_view name) {
  MNEME_RETURN_IF_ERROR(CheckName(name));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = SnapshotDir(data_dir, name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrFormat("no snapshot '%s' in %s", name, data_dir));
  absl::StatusOr<nlohmann::json> m = ReadManifest(dir);
  if (absl::IsNotFound(m.status())) return absl::DataLossError(absl::StrFormat("snapshot '%s': manifest.json missing", name));
  if (!m.ok()) return m.status();
  const std::string where = absl::StrFormat("snapshot '%s'", name);
  if ((*m)["name"] != std::string(name)) return absl::DataLossError(where + ": manifest names another snapshot");
  const std::string db_dir = dir + "/db";
  std::map<std::string, nlohmann::json> want;
  for (const auto& f : (*m)["files"]) want[f.value("name", std::string())] = f;
  std::vector<std::string> present;
  for (const auto& e : fs::directory_iterator(db_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (!IsLog(n)) present.push_back(n);
  }
  if (ec) return absl::DataLossError(absl::StrFormat("%s: cannot list db/: %s", where, ec.message()));
  for (const std::string& n : present) {
    if (!want.count(n)) return absl::DataLossError(absl::StrFormat("%s: unexpected file db/%s", where, n));
  }
  for (const auto& [n, f] : want) {
    const std::string path = db_dir + "/" + n;
    if (!fs::exists(path, ec)) return absl::DataLossError(absl::StrFormat("%s: file db/%s is missing", where, n));
    if (static_cast<int64_t>(fs::file_size(path, ec)) != f.value("bytes", int64_t{-1})) {
      return absl::DataLossError(absl::StrFormat("%s: file db/%s has the wrong size", where, n));
    }
    if (f.contains("crc32c")) {
      MNEME_ASSIGN_OR_RETURN(uint32_t crc, FileCrc(path));
      if (absl::StrFormat("%08x", crc) != f["crc32c"].get<std::string>()) {
        return absl::DataLossError(absl::StrFormat("%s: file db/%s checksum mismatch", where, n));
      }
    }
  }
  absl::StatusOr<std::unique_ptr<Store>> view = Store::Open(dir, StoreOptions{.read_only = true});
  if (!view.ok()) return absl::DataLossError(absl::StrFormat("%s: cannot open: %s", where, view.status().message()));
  const std::map<uint64_t, std::string> sums = RocksChecksums((*view)->rocks().db.get());
  for (const auto& [n, f] : want) {
    if (!f.contains("rocksdb_crc32c")) continue;
    auto it = sums.find(FileNumber(n));
    const std::string got = it == sums.end() ? "" : it->second;
    if (got != f["rocksdb_crc32c"].get<std::string>()) {
      return absl::DataLossError(absl::StrFormat("%s: file db/%s checksum differs from the manifest", where, n));
    }
  }
  MNEME_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(**view));
  if (!report.ok()) {
    return absl::DataLossError(absl::StrFormat("%s: %s (%d problems)", where, report.problems[0].Describe(),
                                               report.problems.size()));
  }
  MNEME_ASSIGN_OR_RETURN(std::vector<SnapshotSessionCount> counts, CountSessions(**view));
  if (CountsJson(counts) != (*m)["sessions"]) return absl::DataLossError(where + ": document counts differ from the manifest");
  SnapshotInfo info = InfoOf(*m, dir);
  info.seconds = Seconds(t0);
  return info;
}

absl::StatusOr<SnapshotInfo> RestoreSnapshot(const std::string& data_dir, std::string_view name,
                                             const std::string& target_dir) {
  std::error_code ec;
  if (fs::exists(target_dir, ec) && !fs::is_empty(target_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrFormat("restore target %s exists and is not empty", target_dir));
  }
  MNEME_ASSIGN_OR_RETURN(SnapshotInfo info, VerifySnapshot(data_dir, name));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string src = info.path + "/db";
  const std::string dst = target_dir + "/db";
  fs::create_directories(dst, ec);
  if (ec) return absl::InternalError(absl::StrFormat("cannot create %s: %s", dst, ec.message()));
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string n = e.path().filename().string();
    if (IsLog(n)) continue;
    const fs::path to = fs::path(dst) / n;
    ec.clear();
    if (RocksChecked(n)) fs::create_hard_link(e.path(), to, ec);  // immutable files: share them
    if (!RocksChecked(n) || ec) {
      ec.clear();
      fs::copy_file(e.path(), to, ec);
      if (ec) return absl::InternalError(absl::StrFormat("copying %s: %s", n, ec.message()));
    }
    MNEME_RETURN_IF_ERROR(SyncPath(to.string()));
  }
  MNEME_RETURN_IF_ERROR(SyncPath(dst));
  MNEME_RETURN_IF_ERROR(SyncPath(target_dir));
  {  // it opens read-write (replaying the checkpoint's WAL, writing a fresh MANIFEST)
    MNEME_ASSIGN_OR_RETURN(auto restored, Store::Open(target_dir, StoreOptions{.create_if_missing = false}));
  }
  info.seconds = Seconds(t0);
  return info;
}

absl::Status RemoveSnapshot(const std::string& data_dir, std::string_view name) {
  MNEME_RETURN_IF_ERROR(CheckName(name));
  const std::string dir = SnapshotDir(data_dir, name);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::NotFoundError(absl::StrFormat("no snapshot '%s' in %s", name, data_dir));
  fs::remove_all(dir, ec);
  if (ec) return absl::InternalError(absl::StrFormat("removing %s: %s", dir, ec.message()));
  return SyncPath((fs::path(data_dir) / "snapshots").string());
}

}  // namespace mneme::memory
