#include "memory/verify.h"

#include <chrono>
#include <map>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "memory/internal/rocks.h"

namespace mneme::memory {
namespace {

std::string_view V(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

uint32_t GetBe32(std::string_view in) {  // REQUIRES in.size() >= 4
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

class Verifier {
 public:
  Verifier(const Store& store, size_t max_problems) : r_(store.rocks()), max_(max_problems) {}

  void Problem(const std::string& session, int64_t ordinal, int layer, std::string what) {
    if (report_.problems.size() < max_) report_.problems.push_back({session, ordinal, layer, std::move(what)});
  }

  void Files() {
    rocksdb::ReadOptions ro;
    if (rocksdb::Status s = r_.db->VerifyChecksum(ro); !s.ok()) Problem("", -1, -1, "block checksums: " + s.ToString());
    if (rocksdb::Status s = r_.db->VerifyFileChecksums(ro); !s.ok()) {
      Problem("", -1, -1, "file checksums: " + s.ToString());
    }
  }

  // Session records and the name index; returns the sessions that decode.
  std::vector<SessionInfo> Sessions() {
    std::vector<SessionInfo> out;
    std::unique_ptr<rocksdb::Iterator> it(r_.db->NewIterator(rocksdb::ReadOptions(), r_.meta));
    for (it->Seek("s"); it->Valid() && it->key().starts_with("s"); it->Next()) {
      absl::StatusOr<SessionInfo> s = DecodeSession(V(it->key()), V(it->value()));
      if (!s.ok()) {
        Problem("", -1, -1, std::string(s.status().message()));
        continue;
      }
      out.push_back(*s);
    }
    if (!it->status().ok()) Problem("", -1, -1, "reading session records: " + it->status().ToString());
    for (it->Seek("n"); it->Valid() && it->key().starts_with("n"); it->Next()) {
      const std::string name(V(it->key()).substr(1));
      bool found = false;
      for (const auto& s : out) found = found || (s.name == name && it->value().size() == 8 && GetBe64(V(it->value())) == s.id);
      if (!found) Problem(name, -1, -1, "the name index points at no valid session record");
    }
    report_.sessions = static_cast<int64_t>(out.size());
    return out;
  }

  // One merge walk over the three families, all ordered by (session, ordinal[, layer]): every
  // document record is checked, every text and segment is read once, sequentially, and values
  // that belong to no live document (orphans: a foreign WAL replayed, a half-applied drop) are
  // reported too.
  void Documents(const std::vector<SessionInfo>& sessions) {
    std::map<uint64_t, const SessionInfo*> by_id;
    std::map<uint64_t, uint64_t> fingerprints;
    for (const SessionInfo& s : sessions) {
      by_id[s.id] = &s;
      absl::StatusOr<uint64_t> fp = FingerprintValue(s.fingerprint);
      if (fp.ok()) {
        fingerprints[s.id] = *fp;
      } else {
        Problem(s.name, -1, -1, std::string(fp.status().message()));
      }
    }
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> meta(r_.db->NewIterator(ro, r_.meta));
    std::unique_ptr<rocksdb::Iterator> text(r_.db->NewIterator(ro, r_.text));
    std::unique_ptr<rocksdb::Iterator> seg(r_.db->NewIterator(ro, r_.segments));
    text->SeekToFirst();
    seg->SeekToFirst();
    auto name_of = [&](uint64_t sid) {
      auto it = by_id.find(sid);
      return it == by_id.end() ? absl::StrFormat("%016x (no session record)", sid) : it->second->name;
    };
    // Reports and skips text/segment keys ordered before `prefix` (sid + ordinal).
    auto skip_orphans = [&](rocksdb::Iterator* it, const std::string& prefix, const char* what) {
      for (; it->Valid() && it->key().compare(prefix) < 0; it->Next()) {
        const std::string_view k = V(it->key());
        if (k.size() < 16) {
          Problem("", -1, -1, absl::StrFormat("malformed %s key", what));
          continue;
        }
        Problem(name_of(GetBe64(k)), static_cast<int64_t>(GetBe64(k.substr(8))),
                k.size() >= 20 ? static_cast<int>(GetBe32(k.substr(16))) : -1,
                absl::StrFormat("%s stored for no live document", what));
      }
    };
    int64_t expect = 0;
    uint64_t expect_sid = 0;
    for (meta->Seek("d"); meta->Valid() && meta->key().starts_with("d"); meta->Next()) {
      const std::string_view key = V(meta->key());
      if (key.size() != 17) {
        Problem("", -1, -1, "malformed document key");
        continue;
      }
      const uint64_t sid = GetBe64(key.substr(1));
      const int64_t ordinal = static_cast<int64_t>(GetBe64(key.substr(9)));
      const std::string prefix = DocPrefix(sid, ordinal);
      skip_orphans(text.get(), prefix, "text");
      skip_orphans(seg.get(), prefix, "segment");
      auto session = by_id.find(sid);
      absl::StatusOr<DocumentInfo> d = DecodeDocument(key, V(meta->value()));
      if (session == by_id.end() || !d.ok()) {
        Problem(name_of(sid), ordinal, -1,
                session == by_id.end() ? "document record of no session" : std::string(d.status().message()));
        continue;  // its text and segments are reported as orphans by the next skip
      }
      const SessionInfo& s = *session->second;
      if (sid != expect_sid) {
        expect = 0;
        expect_sid = sid;
      }
      if (d->ordinal != expect) Problem(s.name, expect, -1, absl::StrFormat("documents %d..%d are missing", expect, d->ordinal - 1));
      expect = d->ordinal + 1;
      ++report_.documents;
      const bool has_text = text->Valid() && V(text->key()) == prefix;
      if (d->deleted) {
        if (has_text) Problem(s.name, d->ordinal, -1, "a deleted document still holds its text");
        if (has_text) text->Next();
        continue;  // segments left under a tombstone are reported as orphans
      }
      ++report_.live_documents;
      if (!has_text) {
        Problem(s.name, d->ordinal, -1, "text missing");
      } else {
        const std::string_view t = V(text->value());
        if (static_cast<int64_t>(t.size()) != d->text_bytes || TextCrc(sid, d->id, t) != d->text_crc) {
          Problem(s.name, d->ordinal, -1, "text checksum mismatch");
        }
        report_.bytes_checked += static_cast<int64_t>(t.size());
        text->Next();
      }
      const auto fp = fingerprints.find(sid);
      for (int layer : s.layers) {
        const std::string skey = SegmentKeyBytes(sid, d->ordinal, static_cast<uint32_t>(layer));
        for (; seg->Valid() && seg->key().compare(skey) < 0 && seg->key().starts_with(prefix); seg->Next()) {
          Problem(s.name, d->ordinal, -1, "segment of a layer the session does not route");
        }
        if (!seg->Valid() || V(seg->key()) != skey) {
          Problem(s.name, d->ordinal, layer, "segment missing");
          continue;
        }
        if (fp != fingerprints.end()) {
          const SegmentKey want{fp->second, sid, d->id, static_cast<uint32_t>(layer)};
          absl::StatusOr<DecodedSegment> dec = DecodeSegment(V(seg->value()), want);
          if (!dec.ok()) {
            Problem(s.name, d->ordinal, layer, std::string(dec.status().message()));
          } else if (dec->shape.chunks != static_cast<uint32_t>(d->chunks) || dec->shape.kv_heads != s.kv_heads ||
                     dec->shape.head_dim != s.head_dim) {
            Problem(s.name, d->ordinal, layer, "segment shape disagrees with its document and session");
          } else {
            ++report_.segments;
          }
        }
        report_.bytes_checked += static_cast<int64_t>(seg->value().size());
        seg->Next();
      }
    }
    for (auto* it : {meta.get(), text.get(), seg.get()}) {
      if (!it->status().ok()) Problem("", -1, -1, "reading: " + it->status().ToString());
    }
    const std::string end(16, '\xff');
    skip_orphans(text.get(), end, "text");
    skip_orphans(seg.get(), end, "segment");
  }

  VerifyReport Run() {
    const auto t0 = std::chrono::steady_clock::now();
    Files();
    std::string value;
    rocksdb::Status st = r_.db->Get(rocksdb::ReadOptions(), r_.meta, StoreKey(), &value);
    if (!st.ok()) {
      Problem("", -1, -1, "store record: " + st.ToString());
    } else if (absl::Status c = CheckStoreRecord(value); !c.ok()) {
      Problem("", -1, -1, std::string(c.message()));
    }
    Documents(Sessions());
    report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report_;
  }

 private:
  const internal::Rocks& r_;
  size_t max_;
  VerifyReport report_;
};

}  // namespace

std::string VerifyProblem::Describe() const {
  std::string where = session.empty() ? "store" : "session '" + session + "'";
  if (ordinal >= 0) where += absl::StrFormat(" document %d", ordinal);
  if (layer >= 0) where += absl::StrFormat(" layer %d", layer);
  return where + ": " + what;
}

absl::StatusOr<VerifyReport> VerifyStore(const Store& store, size_t max_problems) {
  return Verifier(store, max_problems).Run();
}

}  // namespace mneme::memory
