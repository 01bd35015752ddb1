#include "memory/store_stats.h"

#include <filesystem>

#include "common/status.h"
#include "memory/internal/rocks.h"

namespace mneme::memory {

absl::StatusOr<DocumentCounts> CountDocuments(const Store& store, uint64_t sid) {
  DocumentCounts c;
  MNEME_RETURN_IF_ERROR(store.ScanDocuments(sid, 0, [&](const DocumentInfo& d) {
    ++c.documents;
    if (d.deleted) return absl::OkStatus();
    ++c.live_documents;
    c.tokens += d.tokens;
    c.chunks += d.chunks;
    c.text_bytes += d.text_bytes;
    c.segment_bytes += d.segment_bytes;
    return absl::OkStatus();
  }));
  return c;
}

absl::StatusOr<std::vector<FamilyBytes>> FamilyFileBytes(const Store& store) {
  internal::Rocks& r = store.rocks();
  std::vector<FamilyBytes> out;
  for (rocksdb::ColumnFamilyHandle* h : r.DataFamilies()) {
    rocksdb::ColumnFamilyMetaData md;
    r.db->GetColumnFamilyMetaData(h, &md);
    FamilyBytes f;
    f.name = h->GetName();
    for (const auto& level : md.levels) {
      for (const auto& file : level.files) {
        f.sst_bytes += static_cast<int64_t>(file.size);
        ++f.sst_files;
      }
    }
    for (const auto& b : md.blob_files) {
      f.blob_bytes += static_cast<int64_t>(b.blob_file_size);
      ++f.blob_files;
    }
    out.push_back(f);
  }
  return out;
}

absl::StatusOr<StoreStats> ComputeStats(const Store& store) {
  StoreStats st;
  MNEME_ASSIGN_OR_RETURN(st.families, FamilyFileBytes(store));
  for (const auto& f : st.families) st.disk_bytes += f.total();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(store.rocks().db_dir, ec)) {
    if (e.path().extension() == ".log") st.wal_bytes += static_cast<int64_t>(e.file_size(ec));
  }
  st.disk_bytes += st.wal_bytes;
  MNEME_ASSIGN_OR_RETURN(std::vector<SessionInfo> sessions, store.ListSessions());
  for (const SessionInfo& s : sessions) {
    SessionStats ss;
    MNEME_ASSIGN_OR_RETURN(static_cast<DocumentCounts&>(ss), CountDocuments(store, s.id));
    ss.name = s.name;
    ss.codec = SegmentCodecName(s.codec);
    const int64_t row = int64_t{s.kv_heads} * s.head_dim * static_cast<int64_t>(sizeof(float));
    const int64_t layers = static_cast<int64_t>(s.layers.size());
    ss.host_routing_bytes = ss.chunks * layers * row;
    ss.host_content_bytes = 2 * ss.chunks * layers * row;
    st.live_tokens += ss.tokens;
    st.sessions.push_back(std::move(ss));
  }
  return st;
}

}  // namespace mneme::memory
