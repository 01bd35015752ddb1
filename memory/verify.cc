#include "memory/verify.h"

#include <chrono>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "memory/internal/rocks.h"

namespace mneme::memory {
namespace {

std::string_view V(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

class Verifier {
 public:
  Verifier(const Store& store, size_t max_problems) : store_(store), r_(store.rocks()), max_(max_problems) {}

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

  void Documents(const SessionInfo& s) {
    absl::StatusOr<uint64_t> fp = FingerprintValue(s.fingerprint);
    if (!fp.ok()) {
      Problem(s.name, -1, -1, std::string(fp.status().message()));
      return;
    }
    rocksdb::ReadOptions ro;
    const std::string end = DocumentPrefix(s.id + 1);
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(r_.db->NewIterator(ro, r_.meta));
    int64_t expect = 0;
    for (it->Seek(DocumentPrefix(s.id)); it->Valid(); it->Next()) {
      const int64_t ordinal = static_cast<int64_t>(GetBe64(V(it->key()).substr(9)));
      absl::StatusOr<DocumentInfo> d = DecodeDocument(V(it->key()), V(it->value()));
      if (!d.ok()) {
        Problem(s.name, ordinal, -1, std::string(d.status().message()));
        expect = ordinal + 1;
        continue;
      }
      if (d->ordinal != expect) Problem(s.name, expect, -1, absl::StrFormat("documents %d..%d are missing", expect, d->ordinal - 1));
      expect = d->ordinal + 1;
      ++report_.documents;
      if (d->deleted) continue;
      ++report_.live_documents;
      absl::StatusOr<std::string> text = store_.GetText(s.id, *d);
      if (!text.ok()) {
        Problem(s.name, d->ordinal, -1, std::string(text.status().message()));
      } else {
        report_.bytes_checked += static_cast<int64_t>(text->size());
      }
      for (int layer : s.layers) {
        absl::StatusOr<std::string> seg = store_.GetSegment(s.id, d->ordinal, layer);
        if (!seg.ok()) {
          Problem(s.name, d->ordinal, layer, std::string(seg.status().message()));
          continue;
        }
        const SegmentKey key{*fp, s.id, d->id, static_cast<uint32_t>(layer)};
        absl::StatusOr<DecodedSegment> dec = DecodeSegment(*seg, key);
        if (!dec.ok()) {
          Problem(s.name, d->ordinal, layer, std::string(dec.status().message()));
          continue;
        }
        if (dec->shape.chunks != static_cast<uint32_t>(d->chunks) || dec->shape.kv_heads != s.kv_heads ||
            dec->shape.head_dim != s.head_dim) {
          Problem(s.name, d->ordinal, layer, "segment shape disagrees with its document and session");
        }
        ++report_.segments;
        report_.bytes_checked += static_cast<int64_t>(seg->size());
      }
    }
    if (!it->status().ok()) Problem(s.name, -1, -1, "reading document records: " + it->status().ToString());
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
    for (const SessionInfo& s : Sessions()) Documents(s);
    report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report_;
  }

 private:
  const Store& store_;
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
