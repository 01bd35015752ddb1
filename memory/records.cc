#include "memory/records.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "memory/crc32c.h"
#include "memory/proto/store.pb.h"

namespace mneme::memory {
namespace {

constexpr size_t kCrcBytes = 4;

std::string Seal(std::string_view key, const google::protobuf::MessageLite& msg) {
  std::string out;
  msg.SerializeToString(&out);
  uint32_t crc = Crc32cExtend(Crc32c(key.data(), key.size()), out.data(), out.size());
  char b[kCrcBytes];
  for (size_t i = 0; i < kCrcBytes; ++i) b[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  out.append(b, kCrcBytes);
  return out;
}

// Checks the CRC and parses. DataLoss naming `what` otherwise.
absl::Status Unseal(std::string_view key, std::string_view value, google::protobuf::MessageLite* msg,
                    const std::string& what) {
  if (value.size() < kCrcBytes) return absl::DataLossError(what + ": record too short");
  const std::string_view body = value.substr(0, value.size() - kCrcBytes);
  uint32_t stored = 0;
  for (size_t i = 0; i < kCrcBytes; ++i) {
    stored |= uint32_t{static_cast<unsigned char>(value[body.size() + i])} << (8 * i);
  }
  const uint32_t crc = Crc32cExtend(Crc32c(key.data(), key.size()), body.data(), body.size());
  if (crc != stored) return absl::DataLossError(what + ": checksum mismatch");
  if (!msg->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError(what + ": record does not parse");
  }
  return absl::OkStatus();
}

absl::StatusOr<SegmentCodec> CodecOf(uint32_t v, const std::string& what) {
  if (v == static_cast<uint32_t>(SegmentCodec::kBf16) || v == static_cast<uint32_t>(SegmentCodec::kInt8) ||
      v == static_cast<uint32_t>(SegmentCodec::kFp8)) {
    return static_cast<SegmentCodec>(v);
  }
  return absl::DataLossError(absl::StrFormat("%s: unknown codec %d", what, v));
}

}  // namespace

void PutBe64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBe64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
  return v;
}

std::string StoreKey() { return "#store"; }
std::string SessionNameKey(std::string_view name) { return "n" + std::string(name); }
std::string SessionKey(uint64_t sid) {
  std::string k = "s";
  PutBe64(&k, sid);
  return k;
}
std::string DocumentPrefix(uint64_t sid) {
  std::string k = "d";
  PutBe64(&k, sid);
  return k;
}
std::string DocumentKey(uint64_t sid, int64_t ordinal) {
  std::string k = DocumentPrefix(sid);
  PutBe64(&k, static_cast<uint64_t>(ordinal));
  return k;
}
std::string SessionPrefix(uint64_t sid) {
  std::string k;
  PutBe64(&k, sid);
  return k;
}
std::string DocPrefix(uint64_t sid, int64_t ordinal) {
  std::string k = SessionPrefix(sid);
  PutBe64(&k, static_cast<uint64_t>(ordinal));
  return k;
}
std::string TextKey(uint64_t sid, int64_t ordinal) { return DocPrefix(sid, ordinal); }
std::string SegmentKeyBytes(uint64_t sid, int64_t ordinal, uint32_t layer) {
  std::string k = DocPrefix(sid, ordinal);
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((layer >> (8 * i)) & 0xff));
  return k;
}

uint32_t TextCrc(uint64_t sid, uint64_t doc_id, std::string_view text) {
  std::string head;
  PutBe64(&head, sid);
  PutBe64(&head, doc_id);
  return Crc32cExtend(Crc32c(head.data(), head.size()), text.data(), text.size());
}

absl::StatusOr<uint64_t> FingerprintValue(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) {
    return absl::InvalidArgumentError(absl::StrFormat("model fingerprint '%s' is not 1-16 hex digits", hex));
  }
  uint64_t v = 0;
  for (char c : hex) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return absl::InvalidArgumentError(absl::StrFormat("model fingerprint '%s' is not hex", hex));
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

std::string EncodeStoreRecord(int64_t created_unix) {
  store::StoreRecord r;
  r.set_format_version(kStoreFormatVersion);
  r.set_created_unix(created_unix);
  return Seal(StoreKey(), r);
}

absl::Status CheckStoreRecord(std::string_view value) {
  store::StoreRecord r;
  if (absl::Status s = Unseal(StoreKey(), value, &r, "store record"); !s.ok()) return s;
  if (r.format_version() != kStoreFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the store has format version %d; this mneme reads version %d", r.format_version(), kStoreFormatVersion));
  }
  return absl::OkStatus();
}

std::string EncodeSession(const SessionInfo& s) {
  store::SessionRecord r;
  r.set_id(s.id);
  r.set_name(s.name);
  r.set_model_dir(s.model_dir);
  r.set_fingerprint(s.fingerprint);
  r.set_created_unix(s.created_unix);
  if (s.top_k) r.set_top_k(*s.top_k);
  if (s.pooling) r.set_pooling(*s.pooling);
  if (s.routed_layers) {
    r.set_has_routed_layers(true);
    for (int l : *s.routed_layers) r.add_routed_layers(l);
  }
  for (int l : s.layers) r.add_layers(l);
  r.set_kv_heads(static_cast<uint32_t>(s.kv_heads));
  r.set_head_dim(static_cast<uint32_t>(s.head_dim));
  r.set_codec(static_cast<uint32_t>(s.codec));
  r.mutable_retention()->set_max_documents(s.retention.max_documents);
  r.mutable_retention()->set_max_age_seconds(s.retention.max_age_seconds);
  r.mutable_retention()->set_max_bytes(s.retention.max_bytes);
  return Seal(SessionKey(s.id), r);
}

absl::StatusOr<SessionInfo> DecodeSession(std::string_view key, std::string_view value) {
  store::SessionRecord r;
  const std::string what = "session record";
  if (absl::Status st = Unseal(key, value, &r, what); !st.ok()) return st;
  if (key.size() != 9 || key[0] != 's' || GetBe64(key.substr(1)) != r.id()) {
    return absl::DataLossError(what + ": record does not belong to its key");
  }
  SessionInfo s;
  s.id = r.id();
  s.name = r.name();
  s.model_dir = r.model_dir();
  s.fingerprint = r.fingerprint();
  s.created_unix = r.created_unix();
  if (r.has_top_k()) s.top_k = r.top_k();
  if (r.has_pooling()) s.pooling = r.pooling();
  if (r.has_routed_layers()) s.routed_layers = std::vector<int>(r.routed_layers().begin(), r.routed_layers().end());
  s.layers.assign(r.layers().begin(), r.layers().end());
  if (r.kv_heads() == 0 || r.kv_heads() > 65535 || r.head_dim() == 0 || r.head_dim() > 65535 ||
      s.layers.empty() || s.name.empty()) {
    return absl::DataLossError(absl::StrFormat("%s '%s': invalid shape or layers", what, s.name));
  }
  for (int l : s.layers) {
    if (l < 0) return absl::DataLossError(what + ": negative layer");
  }
  s.kv_heads = static_cast<int>(r.kv_heads());
  s.head_dim = static_cast<int>(r.head_dim());
  auto codec = CodecOf(r.codec(), what);
  if (!codec.ok()) return codec.status();
  s.codec = *codec;
  s.retention.max_documents = r.retention().max_documents();
  s.retention.max_age_seconds = r.retention().max_age_seconds();
  s.retention.max_bytes = r.retention().max_bytes();
  if (s.retention.max_documents < 0 || s.retention.max_age_seconds < 0 || s.retention.max_bytes < 0) {
    return absl::DataLossError(what + ": negative retention");
  }
  return s;
}

std::string EncodeDocument(uint64_t sid, const DocumentInfo& d) {
  store::DocumentRecord r;
  r.set_ordinal(d.ordinal);
  r.set_id(d.id);
  r.set_tokens(d.tokens);
  r.set_chunks(d.chunks);
  r.set_source(d.source);
  for (const auto& t : d.tags) r.add_tags(t);
  r.set_part_of(d.part_of);
  r.set_created_unix_ms(d.created_unix_ms);
  r.set_deleted(d.deleted);
  r.set_deleted_unix_ms(d.deleted_unix_ms);
  r.set_codec(static_cast<uint32_t>(d.codec));
  r.set_text_bytes(d.text_bytes);
  r.set_segment_bytes(d.segment_bytes);
  r.set_text_crc(d.text_crc);
  if (d.global_ordinal >= 0) r.set_global_ordinal(d.global_ordinal);
  return Seal(DocumentKey(sid, d.ordinal), r);
}

absl::StatusOr<DocumentInfo> DecodeDocument(std::string_view key, std::string_view value) {
  store::DocumentRecord r;
  std::string what = "document record";
  if (key.size() == 17 && key[0] == 'd') {
    what = absl::StrFormat("document record (session %016x, ordinal %d)", GetBe64(key.substr(1)),
                           static_cast<int64_t>(GetBe64(key.substr(9))));
  }
  if (absl::Status st = Unseal(key, value, &r, what); !st.ok()) return st;
  if (key.size() != 17 || key[0] != 'd' || static_cast<int64_t>(GetBe64(key.substr(9))) != r.ordinal()) {
    return absl::DataLossError(what + ": record does not belong to its key");
  }
  if (r.ordinal() < 0 || r.tokens() < 0 || r.chunks() < 0 || r.text_bytes() < 0 || r.segment_bytes() < 0 ||
      (r.has_global_ordinal() && r.global_ordinal() < r.ordinal()) || r.part_of() < -1 ||
      r.part_of() > (r.has_global_ordinal() ? r.global_ordinal() : r.ordinal())) {
    return absl::DataLossError(what + ": field out of range");
  }
  DocumentInfo d;
  d.ordinal = r.ordinal();
  d.id = r.id();
  d.tokens = r.tokens();
  d.chunks = r.chunks();
  d.source = r.source();
  d.tags.assign(r.tags().begin(), r.tags().end());
  d.part_of = r.part_of();
  d.global_ordinal = r.has_global_ordinal() ? r.global_ordinal() : -1;
  d.created_unix_ms = r.created_unix_ms();
  d.deleted = r.deleted();
  d.deleted_unix_ms = r.deleted_unix_ms();
  auto codec = CodecOf(r.codec(), what);
  if (!codec.ok()) return codec.status();
  d.codec = *codec;
  d.text_bytes = r.text_bytes();
  d.segment_bytes = r.segment_bytes();
  d.text_crc = r.text_crc();
  return d;
}

}  // namespace mneme::memory
