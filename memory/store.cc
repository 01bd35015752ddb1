#include "memory/store.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status.h"
#include "memory/internal/rocks.h"

namespace mneme::memory {
namespace {

using internal::Rocks;
using internal::SessionState;
using internal::ToAbsl;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t RandomId() {
  std::random_device rd;
  uint64_t v = 0;
  while (v == 0) v = (uint64_t{rd()} << 32) ^ rd();
  return v;
}

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }
std::string_view V(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Loads a session's append state from its document records (once).
absl::Status EnsureLoaded(const Store& store, uint64_t sid, SessionState* st) {
  if (st->loaded) return absl::OkStatus();
  st->next_ordinal = 0;
  st->live.clear();
  st->live_bytes = 0;
  MNEME_RETURN_IF_ERROR(store.ScanDocuments(sid, 0, [&](const DocumentInfo& d) {
    st->next_ordinal = d.ordinal + 1;
    if (!d.deleted) {
      const int64_t bytes = d.text_bytes + d.segment_bytes;
      st->live.push_back({d.ordinal, d.created_unix_ms, bytes});
      st->live_bytes += bytes;
    }
    return absl::OkStatus();
  }));
  st->loaded = true;
  return absl::OkStatus();
}

// The live entry of `ordinal` (st->live is sorted by ordinal), or end().
std::deque<LiveDoc>::iterator FindLive(SessionState* st, int64_t ordinal) {
  auto it = std::lower_bound(st->live.begin(), st->live.end(), ordinal,
                             [](const LiveDoc& d, int64_t o) { return d.ordinal < o; });
  return it != st->live.end() && it->ordinal == ordinal ? it : st->live.end();
}

// Adds the tombstone of `d` (read from the store) and the removal of its text and segments.
void AddTombstone(const Rocks& r, const SessionInfo& s, DocumentInfo d, rocksdb::WriteBatch* b) {
  d.deleted = true;
  d.deleted_unix_ms = NowMs();
  b->Put(r.meta, DocumentKey(s.id, d.ordinal), EncodeDocument(s.id, d));
  b->Delete(r.text, TextKey(s.id, d.ordinal));
  for (int layer : s.layers) {
    b->Delete(r.segments, SegmentKeyBytes(s.id, d.ordinal, static_cast<uint32_t>(layer)));
  }
}

// Builds a new store complete (column families and store record) in db.creating/ and renames it
// to db/, so a crash during creation never leaves a half-made store at db/ (RocksDB creates the
// column families after the database itself); the next creation removes db.creating/.
absl::Status CreateStore(const std::string& data_dir, rocksdb::Env* env) {
  namespace fs = std::filesystem;
  const fs::path tmp = fs::path(data_dir) / "db.creating";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  {
    Rocks r;
    MNEME_RETURN_IF_ERROR(internal::OpenRocks(tmp.string(), /*read_only=*/false, /*create=*/true, env, &r));
    MNEME_RETURN_IF_ERROR(ToAbsl(r.db->Put(r.SyncWrite(), r.meta, StoreKey(), EncodeStoreRecord(NowMs() / 1000)),
                                 "writing the store record"));
  }
  MNEME_RETURN_IF_ERROR(SyncPath(tmp.string()));
  fs::rename(tmp, fs::path(data_dir) / "db", ec);
  if (ec) return absl::InternalError(absl::StrFormat("creating the store in %s: %s", data_dir, ec.message()));
  return SyncPath(data_dir);
}

}  // namespace

absl::Status ValidateSessionName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid session name '%s': use 1-64 of [A-Za-z0-9._-], not starting with '.'", name));
  }
  return absl::OkStatus();
}

Store::Store(std::unique_ptr<Rocks> rocks) : rocks_(std::move(rocks)) {}
Store::~Store() = default;

const std::string& Store::data_dir() const { return rocks_->data_dir; }
bool Store::read_only() const { return rocks_->read_only; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& data_dir, const StoreOptions& opts) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(data_dir) / "sessions", ec) && !fs::exists(fs::path(data_dir) / "db", ec)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s holds sessions in the pre-store layout (sessions/*/docs.jsonl); this mneme keeps memory "
        "in %s/db: re-add the documents to a new memory directory",
        data_dir, data_dir));
  }
  if (!opts.read_only && opts.create_if_missing) {
    fs::create_directories(data_dir, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrFormat("cannot create %s: %s", data_dir, ec.message()));
  }
  const fs::path db_dir = fs::path(data_dir) / "db";
  if (!opts.read_only && opts.create_if_missing && !fs::exists(db_dir / "CURRENT", ec) &&
      (!fs::exists(db_dir, ec) || fs::is_empty(db_dir, ec))) {
    MNEME_RETURN_IF_ERROR(CreateStore(data_dir, opts.env));
  }
  auto rocks = std::make_unique<Rocks>();
  rocks->data_dir = data_dir;
  MNEME_RETURN_IF_ERROR(internal::OpenRocks(db_dir.string(), opts.read_only, /*create=*/false, opts.env, rocks.get()));
  if (!opts.read_only) {
    // RocksDB fsyncs db/ itself, not the entries that make db/ (and a new data_dir) reachable.
    const fs::path abs = fs::absolute(data_dir, ec);
    MNEME_RETURN_IF_ERROR(SyncPath(abs.string()));
    if (abs.has_parent_path()) MNEME_RETURN_IF_ERROR(SyncPath(abs.parent_path().string()));
  }
  std::string value;
  rocksdb::Status s = rocks->db->Get(rocksdb::ReadOptions(), rocks->meta, StoreKey(), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(data_dir + ": the store record is missing (not a mneme store, or a damaged one)");
  }
  if (!s.ok()) return ToAbsl(s, "reading the store record of " + data_dir);
  MNEME_RETURN_IF_ERROR(Annotate(CheckStoreRecord(value), data_dir));
  return std::unique_ptr<Store>(new Store(std::move(rocks)));
}

absl::StatusOr<SessionInfo> Store::CreateSession(SessionInfo info) {
  MNEME_RETURN_IF_ERROR(ValidateSessionName(info.name));
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  if (info.layers.empty() || info.kv_heads <= 0 || info.head_dim <= 0) {
    return absl::InvalidArgumentError("a session needs routed layers and a KV shape");
  }
  std::shared_lock gate(rocks_->write_gate);
  std::lock_guard lock(rocks_->sessions_mu);  // serialises session creation and drop
  std::string existing;
  rocksdb::Status s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->meta, SessionNameKey(info.name), &existing);
  if (s.ok()) return absl::AlreadyExistsError(absl::StrFormat("session '%s' already exists in %s", info.name, data_dir()));
  if (!s.IsNotFound()) return ToAbsl(s, "reading session names");
  info.id = RandomId();
  std::string id_value;
  PutBe64(&id_value, info.id);
  rocksdb::WriteBatch b;
  b.Put(rocks_->meta, SessionNameKey(info.name), id_value);
  b.Put(rocks_->meta, SessionKey(info.id), EncodeSession(info));
  MNEME_RETURN_IF_ERROR(ToAbsl(rocks_->db->Write(rocks_->SyncWrite(), &b), "creating session " + info.name));
  return info;
}

absl::StatusOr<std::vector<SessionInfo>> Store::ListSessions() const {
  std::vector<SessionInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(rocksdb::ReadOptions(), rocks_->meta));
  for (it->Seek("s"); it->Valid() && it->key().starts_with("s"); it->Next()) {
    MNEME_ASSIGN_OR_RETURN(SessionInfo s, DecodeSession(V(it->key()), V(it->value())));
    out.push_back(std::move(s));
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(it->status(), "listing sessions"));
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<SessionInfo> Store::GetSession(std::string_view name) const {
  std::string id_value;
  rocksdb::Status s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->meta, SessionNameKey(name), &id_value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrFormat("no session '%s' in %s", name, data_dir()));
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(s, "reading session names"));
  if (id_value.size() != 8) return absl::DataLossError(absl::StrFormat("session '%s': damaged name index", name));
  const std::string key = SessionKey(GetBe64(id_value));
  std::string value;
  s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->meta, key, &value);
  if (s.IsNotFound()) return absl::DataLossError(absl::StrFormat("session '%s': record missing", name));
  MNEME_RETURN_IF_ERROR(ToAbsl(s, "reading session " + std::string(name)));
  MNEME_ASSIGN_OR_RETURN(SessionInfo info, DecodeSession(key, value));
  if (info.name != name) return absl::DataLossError(absl::StrFormat("session '%s': name index points elsewhere", name));
  return info;
}

absl::Status Store::UpdateSession(const SessionInfo& info) {
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  MNEME_ASSIGN_OR_RETURN(SessionInfo old, GetSession(info.name));
  if (old.id != info.id) return absl::InvalidArgumentError("session id does not match its name");
  std::shared_lock gate(rocks_->write_gate);
  return ToAbsl(rocks_->db->Put(rocks_->SyncWrite(), rocks_->meta, SessionKey(info.id), EncodeSession(info)),
                "updating session " + info.name);
}

absl::Status Store::DropSession(std::string_view name) {
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  MNEME_ASSIGN_OR_RETURN(SessionInfo info, GetSession(name));
  std::shared_lock gate(rocks_->write_gate);
  std::lock_guard lock(rocks_->sessions_mu);
  rocksdb::WriteBatch b;
  b.Delete(rocks_->meta, SessionNameKey(name));
  b.Delete(rocks_->meta, SessionKey(info.id));
  b.DeleteRange(rocks_->meta, DocumentPrefix(info.id), DocumentPrefix(info.id + 1));
  b.DeleteRange(rocks_->text, SessionPrefix(info.id), SessionPrefix(info.id + 1));
  b.DeleteRange(rocks_->segments, SessionPrefix(info.id), SessionPrefix(info.id + 1));
  MNEME_RETURN_IF_ERROR(ToAbsl(rocks_->db->Write(rocks_->SyncWrite(), &b), "dropping session " + info.name));
  rocks_->sessions.erase(info.id);
  return absl::OkStatus();
}

namespace {
SessionState* StateOf(Rocks& r, uint64_t sid) {
  std::lock_guard lock(r.sessions_mu);
  auto& p = r.sessions[sid];
  if (!p) p = std::make_unique<SessionState>();
  return p.get();
}
}  // namespace

absl::StatusOr<int64_t> Store::NextOrdinal(uint64_t sid) const {
  SessionState* st = StateOf(*rocks_, sid);
  std::lock_guard lock(st->mu);
  MNEME_RETURN_IF_ERROR(EnsureLoaded(*this, sid, st));
  return st->next_ordinal;
}

absl::StatusOr<AppendResult> Store::Append(const SessionInfo& session, const DocumentWrite& doc) {
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  if (doc.segments.size() != session.layers.size()) {
    return absl::InvalidArgumentError(absl::StrFormat("document has %d segments; the session routes %d layers",
                                                      doc.segments.size(), session.layers.size()));
  }
  std::shared_lock gate(rocks_->write_gate);
  SessionState* st = StateOf(*rocks_, session.id);
  std::lock_guard lock(st->mu);
  MNEME_RETURN_IF_ERROR(EnsureLoaded(*this, session.id, st));
  if (doc.info.ordinal != st->next_ordinal) {
    return absl::InvalidArgumentError(absl::StrFormat("session '%s': appending ordinal %d, expected %d",
                                                      session.name, doc.info.ordinal, st->next_ordinal));
  }
  DocumentInfo info = doc.info;
  info.text_bytes = static_cast<int64_t>(doc.text.size());
  info.text_crc = TextCrc(session.id, info.id, doc.text);
  info.segment_bytes = 0;
  for (const auto& s : doc.segments) info.segment_bytes += static_cast<int64_t>(s.size());
  if (info.created_unix_ms == 0) info.created_unix_ms = NowMs();
  info.deleted = false;

  rocksdb::WriteBatch b;
  b.Put(rocks_->meta, DocumentKey(session.id, info.ordinal), EncodeDocument(session.id, info));
  b.Put(rocks_->text, TextKey(session.id, info.ordinal), S(doc.text));
  for (size_t i = 0; i < doc.segments.size(); ++i) {
    b.Put(rocks_->segments, SegmentKeyBytes(session.id, info.ordinal, static_cast<uint32_t>(session.layers[i])),
          doc.segments[i]);
  }
  const LiveDoc newest{info.ordinal, info.created_unix_ms, info.text_bytes + info.segment_bytes};
  AppendResult result;
  result.ordinal = info.ordinal;
  result.evicted = PickEvictions(session.retention, st->live, st->live_bytes, newest, NowMs());
  for (int64_t o : result.evicted) {
    MNEME_ASSIGN_OR_RETURN(DocumentInfo old, GetDocument(session.id, o));
    AddTombstone(*rocks_, session, old, &b);
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(rocks_->db->Write(rocks_->SyncWrite(), &b),
                               absl::StrFormat("appending document %d to session '%s'", info.ordinal, session.name)));
  st->next_ordinal = info.ordinal + 1;
  st->live.push_back(newest);
  st->live_bytes += newest.bytes;
  for (size_t i = 0; i < result.evicted.size(); ++i) {
    st->live_bytes -= st->live.front().bytes;
    st->live.pop_front();
  }
  return result;
}

absl::Status Store::Delete(const SessionInfo& session, int64_t ordinal) {
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  std::shared_lock gate(rocks_->write_gate);
  SessionState* st = StateOf(*rocks_, session.id);
  std::lock_guard lock(st->mu);
  MNEME_RETURN_IF_ERROR(EnsureLoaded(*this, session.id, st));
  absl::StatusOr<DocumentInfo> d = GetDocument(session.id, ordinal);
  if (absl::IsNotFound(d.status())) {
    return absl::NotFoundError(absl::StrFormat("session '%s' has no document %d", session.name, ordinal));
  }
  if (!d.ok()) return d.status();
  if (d->deleted) return absl::FailedPreconditionError(absl::StrFormat("document %d is already deleted", ordinal));
  rocksdb::WriteBatch b;
  AddTombstone(*rocks_, session, *d, &b);
  MNEME_RETURN_IF_ERROR(ToAbsl(rocks_->db->Write(rocks_->SyncWrite(), &b),
                               absl::StrFormat("deleting document %d of session '%s'", ordinal, session.name)));
  if (auto it = FindLive(st, ordinal); it != st->live.end()) {
    st->live_bytes -= it->bytes;
    st->live.erase(it);
  }
  return absl::OkStatus();
}

absl::Status Store::RewriteSegments(const SessionInfo& session, const DocumentInfo& info,
                                    const std::vector<std::string>& segments) {
  if (rocks_->read_only) return absl::FailedPreconditionError("the store is open read-only");
  if (segments.size() != session.layers.size()) return absl::InvalidArgumentError("wrong segment count");
  std::shared_lock gate(rocks_->write_gate);
  SessionState* st = StateOf(*rocks_, session.id);
  std::lock_guard lock(st->mu);
  MNEME_ASSIGN_OR_RETURN(DocumentInfo cur, GetDocument(session.id, info.ordinal));
  if (cur.deleted || cur.id != info.id) return absl::FailedPreconditionError("document changed while rewriting");
  DocumentInfo next = info;
  next.segment_bytes = 0;
  for (const auto& s : segments) next.segment_bytes += static_cast<int64_t>(s.size());
  rocksdb::WriteBatch b;
  b.Put(rocks_->meta, DocumentKey(session.id, info.ordinal), EncodeDocument(session.id, next));
  for (size_t i = 0; i < segments.size(); ++i) {
    b.Put(rocks_->segments, SegmentKeyBytes(session.id, info.ordinal, static_cast<uint32_t>(session.layers[i])),
          segments[i]);
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(rocks_->db->Write(rocks_->SyncWrite(), &b), "rewriting segments"));
  if (st->loaded) {
    if (auto it = FindLive(st, info.ordinal); it != st->live.end()) {
      const int64_t bytes = next.text_bytes + next.segment_bytes;
      st->live_bytes += bytes - it->bytes;
      it->bytes = bytes;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DocumentInfo> Store::GetDocument(uint64_t sid, int64_t ordinal) const {
  const std::string key = DocumentKey(sid, ordinal);
  std::string value;
  rocksdb::Status s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->meta, key, &value);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrFormat("no document %d", ordinal));
  MNEME_RETURN_IF_ERROR(ToAbsl(s, absl::StrFormat("reading document %d", ordinal)));
  return DecodeDocument(key, value);
}

absl::StatusOr<std::string> Store::GetText(uint64_t sid, const DocumentInfo& doc) const {
  if (doc.deleted) return absl::FailedPreconditionError(absl::StrFormat("document %d is deleted", doc.ordinal));
  std::string text;
  rocksdb::Status s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->text, TextKey(sid, doc.ordinal), &text);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrFormat("session %016x document %d: text missing", sid, doc.ordinal));
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(s, absl::StrFormat("reading the text of document %d", doc.ordinal)));
  if (static_cast<int64_t>(text.size()) != doc.text_bytes || TextCrc(sid, doc.id, text) != doc.text_crc) {
    return absl::DataLossError(absl::StrFormat("session %016x document %d: text checksum mismatch", sid, doc.ordinal));
  }
  return text;
}

absl::StatusOr<std::string> Store::GetSegment(uint64_t sid, int64_t ordinal, int layer) const {
  std::string value;
  rocksdb::Status s = rocks_->db->Get(rocksdb::ReadOptions(), rocks_->segments,
                                      SegmentKeyBytes(sid, ordinal, static_cast<uint32_t>(layer)), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrFormat("session %016x document %d layer %d: segment missing", sid, ordinal, layer));
  }
  MNEME_RETURN_IF_ERROR(ToAbsl(s, absl::StrFormat("reading document %d layer %d", ordinal, layer)));
  return value;
}

absl::Status Store::ScanDocuments(uint64_t sid, int64_t from, const DocVisitor& visit) const {
  rocksdb::ReadOptions ro;
  const std::string end = DocumentPrefix(sid + 1);
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(ro, rocks_->meta));
  for (it->Seek(DocumentKey(sid, from)); it->Valid(); it->Next()) {
    MNEME_ASSIGN_OR_RETURN(DocumentInfo d, DecodeDocument(V(it->key()), V(it->value())));
    MNEME_RETURN_IF_ERROR(visit(d));
  }
  return ToAbsl(it->status(), "scanning documents");
}

absl::Status Store::ScanFull(const SessionInfo& session, const FullVisitor& visit) const {
  const rocksdb::Snapshot* snap = rocks_->db->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{rocks_->db.get(), snap};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> text_it(rocks_->db->NewIterator(ro, rocks_->text));
  std::unique_ptr<rocksdb::Iterator> seg_it(rocks_->db->NewIterator(ro, rocks_->segments));
  std::vector<std::string> segments;
  rocksdb::ReadOptions mo = ro;
  const std::string end = DocumentPrefix(session.id + 1);
  rocksdb::Slice upper(end);
  mo.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(mo, rocks_->meta));
  for (it->Seek(DocumentPrefix(session.id)); it->Valid(); it->Next()) {
    MNEME_ASSIGN_OR_RETURN(DocumentInfo d, DecodeDocument(V(it->key()), V(it->value())));
    if (d.deleted) {
      segments.clear();
      MNEME_RETURN_IF_ERROR(visit(d, std::string_view(), segments));
      continue;
    }
    segments.resize(session.layers.size());  // assign() below reuses each string's capacity
    const std::string tkey = TextKey(session.id, d.ordinal);
    text_it->Seek(tkey);
    if (!text_it->Valid() || V(text_it->key()) != tkey) {
      MNEME_RETURN_IF_ERROR(ToAbsl(text_it->status(), "reading texts"));
      return absl::DataLossError(absl::StrFormat("session '%s' document %d: text missing", session.name, d.ordinal));
    }
    const std::string_view text = V(text_it->value());
    if (static_cast<int64_t>(text.size()) != d.text_bytes || TextCrc(session.id, d.id, text) != d.text_crc) {
      return absl::DataLossError(absl::StrFormat("session '%s' document %d: text checksum mismatch", session.name, d.ordinal));
    }
    for (size_t i = 0; i < session.layers.size(); ++i) {
      const std::string skey = SegmentKeyBytes(session.id, d.ordinal, static_cast<uint32_t>(session.layers[i]));
      if (i == 0) {
        seg_it->Seek(skey);
      } else {
        seg_it->Next();  // layers are adjacent keys; Seek only when they are not
        if (!seg_it->Valid() || V(seg_it->key()) != skey) seg_it->Seek(skey);
      }
      if (!seg_it->Valid() || V(seg_it->key()) != skey) {
        MNEME_RETURN_IF_ERROR(ToAbsl(seg_it->status(), "reading segments"));
        return absl::DataLossError(absl::StrFormat("session '%s' document %d layer %d: segment missing",
                                                   session.name, d.ordinal, session.layers[i]));
      }
      segments[i].assign(seg_it->value().data(), seg_it->value().size());
    }
    MNEME_RETURN_IF_ERROR(visit(d, text, segments));
  }
  return ToAbsl(it->status(), "scanning documents");
}

}  // namespace mneme::memory
