#include "memory/compaction.h"

#include <chrono>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "memory/document_segments.h"
#include "memory/internal/rocks.h"
#include "memory/store_stats.h"

namespace mneme::memory {
namespace {

absl::StatusOr<int64_t> DataBytes(const Store& store) {
  MNEME_ASSIGN_OR_RETURN(std::vector<FamilyBytes> f, FamilyFileBytes(store));
  int64_t total = 0;
  for (const auto& x : f) total += x.total();
  return total;
}

absl::StatusOr<int64_t> Reencode(Store& store, SessionInfo session, SegmentCodec codec) {
  MNEME_ASSIGN_OR_RETURN(uint64_t fp, FingerprintValue(session.fingerprint));
  std::vector<DocumentInfo> todo;
  MNEME_RETURN_IF_ERROR(store.ScanDocuments(session.id, 0, [&](const DocumentInfo& d) {
    if (!d.deleted && d.codec != codec) todo.push_back(d);
    return absl::OkStatus();
  }));
  // New appends use the new codec from here on; documents below are rewritten one by one.
  session.codec = codec;
  MNEME_RETURN_IF_ERROR(store.UpdateSession(session));
  std::vector<std::string> segments;
  for (DocumentInfo d : todo) {
    segments.clear();
    for (int layer : session.layers) {
      MNEME_ASSIGN_OR_RETURN(std::string raw, store.GetSegment(session.id, d.ordinal, layer));
      segments.push_back(std::move(raw));
    }
    MNEME_ASSIGN_OR_RETURN(PooledDocument pooled, DecodeDocumentSegments(session, fp, d, segments));
    MNEME_ASSIGN_OR_RETURN(segments, EncodeDocumentSegments(session, fp, d.id, codec, pooled));
    d.codec = codec;
    absl::Status s = store.RewriteSegments(session, d, segments);
    if (absl::IsFailedPrecondition(s)) continue;  // deleted meanwhile
    MNEME_RETURN_IF_ERROR(s);
  }
  return static_cast<int64_t>(todo.size());
}

}  // namespace

absl::StatusOr<CompactReport> Compact(Store& store, const CompactOptions& opts) {
  if (store.read_only()) return absl::FailedPreconditionError("compaction needs the store open read-write");
  const auto t0 = std::chrono::steady_clock::now();
  CompactReport rep;
  MNEME_ASSIGN_OR_RETURN(rep.bytes_before, DataBytes(store));
  if (opts.codec) {
    std::vector<SessionInfo> sessions;
    if (opts.session) {
      MNEME_ASSIGN_OR_RETURN(SessionInfo s, store.GetSession(*opts.session));
      sessions.push_back(s);
    } else {
      MNEME_ASSIGN_OR_RETURN(sessions, store.ListSessions());
    }
    for (const SessionInfo& s : sessions) {
      MNEME_ASSIGN_OR_RETURN(int64_t n, Reencode(store, s, *opts.codec));
      rep.documents_reencoded += n;
    }
  } else if (opts.session) {
    MNEME_RETURN_IF_ERROR(store.GetSession(*opts.session).status());
  }
  internal::Rocks& r = store.rocks();
  rocksdb::FlushOptions fo;
  MNEME_RETURN_IF_ERROR(internal::ToAbsl(r.db->Flush(fo, r.DataFamilies()), "flushing"));
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  co.blob_garbage_collection_age_cutoff = 1.0;  // relocate every live blob: old files go
  for (rocksdb::ColumnFamilyHandle* h : r.DataFamilies()) {
    MNEME_RETURN_IF_ERROR(internal::ToAbsl(r.db->CompactRange(co, h, nullptr, nullptr), "compacting " + h->GetName()));
  }
  MNEME_ASSIGN_OR_RETURN(rep.bytes_after, DataBytes(store));
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace mneme::memory
