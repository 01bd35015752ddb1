#include "tests/damage/damage_harness.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "memory/internal/rocks.h"
#include "memory/segment_codec.h"
#include "memory/verify.h"

namespace mneme::memory::damage_test {

uint64_t DamageSeed() {
  const char* v = std::getenv("MNEME_DAMAGE_SEED");
  uint64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(std::string(v), &out) ? out : 20240611;
}

bool Verbose() { return std::getenv("MNEME_DAMAGE_VERBOSE") != nullptr; }

// ---- files --------------------------------------------------------------------------------------

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

namespace {

void WriteAll(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

void CopyTree(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to.parent_path());
  // Regular copies: snapshot SST/blob files are hard links of the live ones, and damage must not
  // reach the reference through a link.
  fs::copy(from, to, fs::copy_options::recursive);
}

// The file type a db/ or snapshot file name belongs to; empty for files outside the matrix.
std::string TypeOf(const std::string& name) {
  if (name.ends_with(".log")) return "WAL";
  if (name.ends_with(".sst")) return "SST";
  if (name.ends_with(".blob")) return "blob";
  if (name.starts_with("MANIFEST-")) return "MANIFEST";
  if (name == "CURRENT") return "CURRENT";
  if (name.starts_with("OPTIONS-")) return "OPTIONS";
  if (name == "IDENTITY") return "IDENTITY";
  if (name == "manifest.json") return "manifest.json";
  return "";
}

std::vector<std::string> FilesOfType(const fs::path& dir, const std::string& type) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && TypeOf(name) == type) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- damage -------------------------------------------------------------------------------------

// Applies `d` to <dir>/<d.file>. Returns whether the file's bytes changed (a swap with an
// identical file, or truncating an empty one, does not change anything).
bool Apply(const Damage& d, const fs::path& dir) {
  const fs::path p = dir / d.file;
  const std::string before = ReadAll(p);
  switch (d.kind) {
    case Kind::kBitFlip: {
      std::string b = before;
      b[d.offset] = static_cast<char>(b[d.offset] ^ (1 << d.bit));
      WriteAll(p, b);
      break;
    }
    case Kind::kZeroPage: {
      std::string b = before;
      const size_t end = std::min<size_t>(b.size(), d.offset + 4096);
      for (size_t i = d.offset; i < end; ++i) b[i] = '\0';
      WriteAll(p, b);
      break;
    }
    case Kind::kTruncate:
    case Kind::kTruncateToZero:
      fs::resize_file(p, d.offset);
      break;
    case Kind::kDelete:
      fs::remove(p);
      return true;
    case Kind::kDeleteWithWals:  // a double damage: RocksDB guards a lost CURRENT by the WAL
      fs::remove(p);
      for (const std::string& wal : FilesOfType(dir, "WAL")) fs::remove(dir / wal);
      return true;
    case Kind::kSwap:
      fs::copy_file(d.swap_from, p, fs::copy_options::overwrite_existing);
      break;
  }
  return ReadAll(p) != before;
}

// The damages of one file: bit flips near the head, in the middle, near the tail and anywhere; a
// zeroed 4 KiB page; a random truncation; truncation to zero; deletion; the same-named file (else
// the same-typed one at the same position) from `other_dir`.
std::vector<Damage> DamagesFor(const fs::path& dir, const std::string& file, const fs::path& other_dir,
                               std::mt19937_64& rng) {
  std::vector<Damage> out;
  const uint64_t size = fs::file_size(dir / file);
  auto in = [&](uint64_t lo, uint64_t hi) {  // [lo, hi)
    hi = std::max(hi, lo + 1);
    return std::uniform_int_distribution<uint64_t>(lo, hi - 1)(rng);
  };
  auto make = [&](Kind kind, uint64_t offset, int bit, std::string label) {
    Damage d;
    d.kind = kind;
    d.file = file;
    d.offset = offset;
    d.bit = bit;
    d.label = std::move(label);
    return d;
  };
  if (size > 0) {
    const char* where[] = {"head", "middle", "tail", "anywhere"};
    const uint64_t at[] = {in(0, std::max<uint64_t>(1, size / 10)), in(size * 4 / 10, size * 6 / 10),
                           in(size - std::min<uint64_t>(size, std::max<uint64_t>(1, size / 20)), size), in(0, size)};
    for (int i = 0; i < 4; ++i) {
      out.push_back(make(Kind::kBitFlip, std::min(at[i], size - 1), static_cast<int>(in(0, 8)),
                         absl::StrFormat("bit flip (%s)", where[i])));
    }
    out.push_back(make(Kind::kZeroPage, size > 4096 ? in(0, size / 4096) * 4096 : 0, 0, "zero 4 KiB page"));
    out.push_back(make(Kind::kTruncate, size > 1 ? in(1, size) : 0, 0, "truncate (random)"));
  }
  out.push_back(make(Kind::kTruncateToZero, 0, 0, "truncate to 0"));
  out.push_back(make(Kind::kDelete, 0, 0, "delete"));
  if (TypeOf(file) == "CURRENT" && !FilesOfType(dir, "WAL").empty()) {
    out.push_back(make(Kind::kDeleteWithWals, 0, 0, "delete, and the WAL too"));
  }
  // The same-named file of the other store, else its file of the same type at the same position.
  std::string from = file;
  if (!fs::exists(other_dir / file)) {
    const std::vector<std::string> mine = FilesOfType(dir, TypeOf(file));
    const std::vector<std::string> theirs = FilesOfType(other_dir, TypeOf(file));
    const size_t i = static_cast<size_t>(std::find(mine.begin(), mine.end(), file) - mine.begin());
    from = theirs.empty() ? "" : theirs[std::min(i, theirs.size() - 1)];
  }
  if (!from.empty()) {
    Damage sw = make(Kind::kSwap, 0, 0, from == file ? "swap (other store)" : "swap (other store, " + from + ")");
    sw.swap_from = other_dir / from;
    out.push_back(sw);
  }
  return out;
}

// ---- the reference store ------------------------------------------------------------------------

constexpr uint64_t kDocSeed = 7;

SyntheticDoc Synth(const SessionInfo& s, int64_t o) {
  absl::StatusOr<SyntheticDoc> d =
      MakeSyntheticDoc(s, o, kDocSeed, 1 + static_cast<int>(o % 4), 200 + static_cast<int>((o * 53) % 400));
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

void FlushAll(Store& st) {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  internal::Rocks& r = st.rocks();
  rocksdb::Status s = r.db->Flush(fo, r.DataFamilies());
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// 60 documents: 0-24 and 25-49 each flushed to SST (meta, text) and blob files (segments), 50-59
// and two deletes only in the WAL; five deletes in all.
void BuildStore(const std::string& data_dir, Reference* ref) {
  fs::remove_all(data_dir);
  ref->data_dir = data_dir;
  auto st = Store::Open(data_dir, {});
  ASSERT_TRUE(st.ok()) << st.status();
  auto s = (*st)->CreateSession(SyntheticSession(kSession, 3, 2, 32));
  ASSERT_TRUE(s.ok()) << s.status();
  ref->session = *s;
  auto append = [&](int64_t o) {
    SyntheticDoc d = Synth(*s, o);
    auto r = (*st)->Append(*s, DocumentWrite{d.info, d.text, d.segments});
    ASSERT_TRUE(r.ok()) << r.status();
  };
  auto del = [&](int64_t o) { ASSERT_TRUE((*st)->Delete(*s, o).ok()); };
  for (int64_t o = 0; o < 25; ++o) append(o);
  for (int64_t o : {3, 11, 19}) del(o);
  FlushAll(**st);
  for (int64_t o = 25; o < 50; ++o) append(o);
  for (int64_t o : {30, 41}) del(o);
  FlushAll(**st);
  for (int64_t o = 50; o < 60; ++o) append(o);
  for (int64_t o : {7, 55}) del(o);
}

// Reads the reference back from an undamaged copy (read-only) and checks it against the
// synthetic originals.
void LoadReference(Reference* ref, const fs::path& scratch) {
  CopyTree(ref->data_dir, scratch);
  auto st = Store::Open(scratch.string(), {.read_only = true, .create_if_missing = false});
  ASSERT_TRUE(st.ok()) << st.status();
  auto load = [&](const DocumentInfo& d) {
    SyntheticDoc syn = Synth(ref->session, d.ordinal);
    if (!d.deleted) {
      absl::StatusOr<std::string> t = (*st)->GetText(ref->session.id, d);
      EXPECT_TRUE(t.ok() && *t == syn.text);
      for (size_t i = 0; i < ref->session.layers.size(); ++i) {
        auto g = (*st)->GetSegment(ref->session.id, d.ordinal, ref->session.layers[i]);
        EXPECT_TRUE(g.ok() && *g == syn.segments[i]);
      }
    }
    ref->docs[d.ordinal] = RefDoc{d, std::move(syn.text), std::move(syn.segments)};
    return absl::OkStatus();
  };
  ASSERT_TRUE((*st)->ScanDocuments(ref->session.id, 0, load).ok());
  ASSERT_EQ(ref->docs.size(), 60u);
  st->reset();  // closed before its directory goes
  fs::remove_all(scratch);
}

// ---- reading a damaged store --------------------------------------------------------------------

namespace {

bool SameSession(const SessionInfo& a, const SessionInfo& b) {
  return a.id == b.id && a.name == b.name && a.fingerprint == b.fingerprint && a.layers == b.layers &&
         a.kv_heads == b.kv_heads && a.head_dim == b.head_dim && a.codec == b.codec &&
         a.created_unix == b.created_unix && a.model_dir == b.model_dir;
}

bool SameRecord(const DocumentInfo& a, const DocumentInfo& b, bool ignore_deletion) {
  return a.ordinal == b.ordinal && a.id == b.id && a.tokens == b.tokens && a.chunks == b.chunks &&
         a.source == b.source && a.tags == b.tags && a.part_of == b.part_of && a.created_unix_ms == b.created_unix_ms &&
         a.codec == b.codec && a.text_bytes == b.text_bytes && a.segment_bytes == b.segment_bytes &&
         a.text_crc == b.text_crc &&
         (ignore_deletion || (a.deleted == b.deleted && a.deleted_unix_ms == b.deleted_unix_ms));
}

struct ReadTally {
  int64_t verified = 0;       // documents whose every read succeeded with the reference bytes
  int64_t refused = 0;        // reads that returned a non-OK status
  std::set<int64_t> missing;  // reference documents gone without an error
  std::set<int64_t> undone;   // reference tombstones served live again (a lost delete)
  int64_t wrong = 0;          // reads that returned bytes other than the reference's
  std::vector<std::string> wrong_details;
  std::string first_refusal;

  void Refuse(const absl::Status& s) {
    ++refused;
    if (first_refusal.empty()) first_refusal = s.ToString();
  }
  void Wrong(std::string what) {
    ++wrong;
    if (wrong_details.size() < 5) wrong_details.push_back(std::move(what));
  }
};

// Checks a live document's text and segments against `want`; returns whether all were served.
bool CheckContent(const Store& st, const Reference& ref, const DocumentInfo& d, const RefDoc& want, ReadTally* t) {
  const SessionInfo& s = ref.session;
  bool all = true;
  absl::StatusOr<std::string> text = st.GetText(s.id, d);
  if (!text.ok()) {
    t->Refuse(text.status());
    all = false;
  } else if (*text != want.text) {
    t->Wrong(absl::StrFormat("document %d: text differs", d.ordinal));
    all = false;
  }
  const uint64_t fp = *FingerprintValue(s.fingerprint);
  for (size_t i = 0; i < s.layers.size(); ++i) {
    absl::StatusOr<std::string> g = st.GetSegment(s.id, d.ordinal, s.layers[i]);
    if (!g.ok()) {
      t->Refuse(g.status());
      all = false;
      continue;
    }
    if (*g != want.segments[i]) {
      t->Wrong(absl::StrFormat("document %d layer %d: segment bytes differ", d.ordinal, s.layers[i]));
      all = false;
      continue;
    }
    absl::StatusOr<DecodedSegment> dec =
        DecodeSegment(*g, SegmentKey{fp, s.id, d.id, static_cast<uint32_t>(s.layers[i])});
    if (!dec.ok()) {
      t->Wrong(absl::StrFormat("document %d layer %d: reference bytes do not decode: %s", d.ordinal, s.layers[i],
                               dec.status().ToString()));
      all = false;
    }
  }
  return all;
}

// Every read the store offers, compared with the reference: the session, ScanDocuments,
// GetDocument + GetText + GetSegment (+ DecodeSegment) per document, and ScanFull.
ReadTally ReadEverything(const Store& st, const Reference& ref) {
  ReadTally t;
  const SessionInfo& s = ref.session;
  absl::StatusOr<SessionInfo> got = st.GetSession(kSession);
  if (absl::IsNotFound(got.status())) {
    // Gone without an error: counted through its documents (GetDocument answers NotFound too).
  } else if (!got.ok()) {
    t.Refuse(got.status());
  } else if (!SameSession(*got, s)) {
    t.Wrong(absl::StrFormat("session '%s' served with id %016x (reference %016x)", kSession, got->id, s.id));
  }
  absl::StatusOr<std::vector<SessionInfo>> list = st.ListSessions();
  if (!list.ok()) {
    t.Refuse(list.status());
  } else {
    for (const SessionInfo& l : *list) {
      if (!SameSession(l, s))
        t.Wrong(absl::StrFormat("ListSessions serves a session '%s' the reference lacks", l.name));
    }
  }

  // Records through the scan; a document may be missing only if the scan completed.
  std::set<int64_t> scanned;
  absl::Status scan = st.ScanDocuments(s.id, 0, [&](const DocumentInfo& d) {
    scanned.insert(d.ordinal);
    auto it = ref.docs.find(d.ordinal);
    if (it == ref.docs.end()) {
      t.Wrong(absl::StrFormat("ScanDocuments serves document %d the reference lacks", d.ordinal));
    } else if (!SameRecord(d, it->second.info, /*ignore_deletion=*/it->second.info.deleted && !d.deleted)) {
      t.Wrong(absl::StrFormat("ScanDocuments: document %d's record differs", d.ordinal));
    }
    return absl::OkStatus();
  });
  if (!scan.ok()) t.Refuse(scan);

  for (const auto& [o, want] : ref.docs) {
    absl::StatusOr<DocumentInfo> d = st.GetDocument(s.id, o);
    if (absl::IsNotFound(d.status())) {
      t.missing.insert(o);
      if (scanned.count(o)) t.Wrong(absl::StrFormat("document %d: scanned but GetDocument says NotFound", o));
      continue;
    }
    if (!d.ok()) {
      t.Refuse(d.status());
      continue;
    }
    if (want.info.deleted && !d->deleted && SameRecord(*d, want.info, /*ignore_deletion=*/true)) {
      t.undone.insert(o);  // the delete was lost; the document must still be served exactly
      CheckContent(st, ref, *d, want, &t);
      continue;
    }
    if (!SameRecord(*d, want.info, false)) {
      t.Wrong(absl::StrFormat("document %d: record differs (deleted %d vs %d)", o, d->deleted, want.info.deleted));
      continue;
    }
    if (d->deleted) {
      // A tombstone has no bytes: a segment served for it would be data the reference lacks.
      for (int layer : s.layers) {
        absl::StatusOr<std::string> g = st.GetSegment(s.id, o, layer);
        if (g.ok()) t.Wrong(absl::StrFormat("tombstone %d serves a segment", o));
      }
      ++t.verified;
      continue;
    }
    if (CheckContent(st, ref, *d, want, &t)) ++t.verified;
  }

  absl::Status full =
      st.ScanFull(s, [&](const DocumentInfo& d, std::string_view text, const std::vector<std::string>& segs) {
        auto it = ref.docs.find(d.ordinal);
        if (it == ref.docs.end()) {
          t.Wrong(absl::StrFormat("ScanFull serves document %d the reference lacks", d.ordinal));
          return absl::OkStatus();
        }
        const RefDoc& want = it->second;
        const bool undone = want.info.deleted && !d.deleted;
        if (!SameRecord(d, want.info, undone)) {
          t.Wrong(absl::StrFormat("ScanFull: document %d's record differs", d.ordinal));
        } else if (!d.deleted && (text != want.text || segs != want.segments)) {
          t.Wrong(absl::StrFormat("ScanFull: document %d's bytes differ", d.ordinal));
        } else if (d.deleted && (!text.empty() || !segs.empty())) {
          t.Wrong(absl::StrFormat("ScanFull: tombstone %d has bytes", d.ordinal));
        }
        return absl::OkStatus();
      });
  if (!full.ok()) t.Refuse(full);
  return t;
}

}  // namespace

// ---- one case -----------------------------------------------------------------------------------

Outcome OpenAndRead(const std::string& data_dir, const Reference& ref, bool read_only) {
  Outcome out;
  // Read-write as the CLI and servers open it (create_if_missing stays on).
  StoreOptions opts;
  opts.read_only = read_only;
  absl::StatusOr<std::unique_ptr<Store>> st = Store::Open(data_dir, opts);
  if (!st.ok()) {
    EXPECT_NE(st.status().code(), absl::StatusCode::kOk);
    out.cell = absl::StrFormat("refused: %s", absl::StatusCodeToString(st.status().code()));
    out.detail = st.status().ToString();
    return out;
  }
  out.opened = true;
  const ReadTally t = ReadEverything(**st, ref);
  absl::StatusOr<VerifyReport> report = VerifyStore(**st);
  const bool verify_flags = !report.ok() || !report->ok();
  std::string verify =
      !report.ok() ? "verify failed: " + report.status().ToString()
      : report->problems.empty()
          ? "verify: clean"
          : absl::StrFormat("verify: %d problems, first: %s", report->problems.size(), report->problems[0].Describe());
  if (t.refused > 0) {
    EXPECT_TRUE(verify_flags) << data_dir << ": " << t.refused << " reads refused (" << t.first_refusal
                              << ") but VerifyStore reports nothing";
  }
  const int64_t lost = static_cast<int64_t>(t.missing.size() + t.undone.size());
  if (t.wrong > 0) {
    out.wrong = true;
    out.cell = absl::StrFormat("WRONG DATA: %d reads", t.wrong);
    out.detail = absl::StrJoin(t.wrong_details, "; ");
  } else if (lost > 0) {
    out.silent_loss = true;
    out.cell = absl::StrFormat("opened, docs missing: %d", t.missing.size());
    if (!t.undone.empty()) out.cell += absl::StrFormat(", deletes undone: %d", t.undone.size());
    out.cell += absl::StrFormat(" (%d verified, %d reads refused)", t.verified, t.refused);
  } else {
    out.cell = absl::StrFormat("opened, %d docs served verified, %d reads refused", t.verified, t.refused);
  }
  out.cell += verify_flags ? "; verify flags it" : "; verify clean";
  std::vector<std::string> parts;
  if (!t.missing.empty()) parts.push_back("missing " + absl::StrJoin(t.missing, ","));
  if (!t.undone.empty()) parts.push_back("undone " + absl::StrJoin(t.undone, ","));
  if (!t.first_refusal.empty()) parts.push_back("first refusal: " + t.first_refusal);
  parts.push_back(verify);
  if (!out.detail.empty()) parts.push_back(out.detail);
  out.detail = absl::StrJoin(parts, " | ");
  return out;
}

void Table::Add(const std::string& type, const std::string& damage, int column, const std::string& cell) {
  const std::string key = type + "\t" + damage;
  if (!rows_.count(key)) order_.push_back(key);
  ++rows_[key][column][cell];
}

void Table::Print(const std::vector<std::string>& columns) const {
  std::string rule;
  for (size_t c = 0; c < columns.size(); ++c) rule += "---|";
  std::printf("\n| file type | damage | %s |\n|---|---|%s\n", absl::StrJoin(columns, " | ").c_str(), rule.c_str());
  for (const std::string& key : order_) {
    const size_t tab = key.find('\t');
    std::printf("| %s | %s |", key.substr(0, tab).c_str(), key.substr(tab + 1).c_str());
    for (size_t c = 0; c < columns.size(); ++c) {
      std::vector<std::string> cells;
      auto it = rows_.at(key).find(static_cast<int>(c));
      if (it != rows_.at(key).end()) {
        for (const auto& [cell, n] : it->second) cells.push_back(n > 1 ? absl::StrFormat("%s ×%d", cell, n) : cell);
      }
      std::printf(" %s |", absl::StrJoin(cells, "<br>").c_str());
    }
    std::printf("\n");
  }
  std::fflush(stdout);
}

// ---- fixture ------------------------------------------------------------------------------------

fs::path* DamageTest::root_ = nullptr;
Reference* DamageTest::a_ = nullptr;
Reference* DamageTest::b_ = nullptr;

void DamageTest::SetUpTestSuite() {
  root_ = new fs::path(fs::path(::testing::TempDir()) / absl::StrFormat("mneme_damage_%d", ::getpid()));
  fs::remove_all(*root_);
  a_ = new Reference;
  b_ = new Reference;
  BuildStore((*root_ / "ref_a").string(), a_);
  BuildStore((*root_ / "ref_b").string(), b_);
  LoadReference(a_, *root_ / "scratch");
  EXPECT_NE(a_->session.id, b_->session.id);
}

void DamageTest::TearDownTestSuite() {
  if (!::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(*root_);
  delete a_;
  delete b_;
  delete root_;
}

}  // namespace mneme::memory::damage_test
