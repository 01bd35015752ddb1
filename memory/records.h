// The store's keys and metadata records (docs/format/store.md).
//
// Keys are big-endian so RocksDB's byte order is (session, ordinal, layer) order:
//   meta:     "#store"                      -> StoreRecord
//             "n" + name                    -> be64(session id)        (name index)
//             "s" + be64(sid)               -> SessionRecord
//             "d" + be64(sid) + be64(ord)   -> DocumentRecord (kept as a tombstone after delete)
//   text:     be64(sid) + be64(ord)         -> UTF-8 text (CRC in the DocumentRecord)
//   segments: be64(sid) + be64(ord) + be32(layer) -> segment (memory/segment_codec.h)
// Every meta value is the serialized record followed by a little-endian CRC-32C over
// (key || record): a record read under another key, torn or bit-flipped never parses.
// The protobuf types stay inside records.cc; callers see the plain structs below.
#ifndef MNEME_MEMORY_RECORDS_H_
#define MNEME_MEMORY_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/segment_codec.h"

namespace mneme::memory {

inline constexpr uint32_t kStoreFormatVersion = 1;

struct Retention {
  int64_t max_documents = 0;    // 0 = unlimited
  int64_t max_age_seconds = 0;  // 0 = unlimited
  int64_t max_bytes = 0;        // live text + segment bytes; 0 = unlimited
  bool any() const { return max_documents > 0 || max_age_seconds > 0 || max_bytes > 0; }
};

struct SessionInfo {
  uint64_t id = 0;
  std::string name;
  std::string model_dir;    // absolute
  std::string fingerprint;  // hex (WeightSource::Fingerprint)
  int64_t created_unix = 0;
  std::optional<int> top_k, pooling;             // overrides given at creation
  std::optional<std::vector<int>> routed_layers; // override given at creation
  std::vector<int> layers;  // resolved routed layers = segment layer ids, in slot order
  int kv_heads = 0, head_dim = 0;
  SegmentCodec codec = SegmentCodec::kBf16;      // for new appends
  Retention retention;
};

struct DocumentInfo {
  int64_t ordinal = 0;
  uint64_t id = 0;
  int64_t tokens = 0, chunks = 0;
  std::string source;
  std::vector<std::string> tags;
  int64_t part_of = -1;
  // Memory parallel: the ordinal across every shard (engine/parallel); -1 in an unsharded
  // store, where it is `ordinal`. Ids, templates and part_of refer to effective_ordinal().
  int64_t global_ordinal = -1;
  int64_t created_unix_ms = 0;
  bool deleted = false;
  int64_t deleted_unix_ms = 0;
  SegmentCodec codec = SegmentCodec::kBf16;
  int64_t text_bytes = 0, segment_bytes = 0;
  uint32_t text_crc = 0;
  int64_t effective_ordinal() const { return global_ordinal >= 0 ? global_ordinal : ordinal; }
};

// ---- keys ----
std::string StoreKey();
std::string SessionNameKey(std::string_view name);
std::string SessionKey(uint64_t sid);
std::string DocumentKey(uint64_t sid, int64_t ordinal);
std::string DocumentPrefix(uint64_t sid);           // "d" + be64(sid)
std::string TextKey(uint64_t sid, int64_t ordinal);
std::string SegmentKeyBytes(uint64_t sid, int64_t ordinal, uint32_t layer);
std::string DocPrefix(uint64_t sid, int64_t ordinal);  // be64(sid) + be64(ord): text/segments
std::string SessionPrefix(uint64_t sid);               // be64(sid): text/segments CFs

void PutBe64(std::string* out, uint64_t v);
uint64_t GetBe64(std::string_view in);  // REQUIRES in.size() >= 8

// The CRC binding a document's text to its session and document id.
uint32_t TextCrc(uint64_t sid, uint64_t doc_id, std::string_view text);

// The hex fingerprint as the 64-bit value segments are bound to. InvalidArgument if not hex.
absl::StatusOr<uint64_t> FingerprintValue(std::string_view hex);

// ---- values ----
std::string EncodeStoreRecord(int64_t created_unix);
// DataLoss on a bad CRC or parse; FailedPrecondition for an unknown format version.
absl::Status CheckStoreRecord(std::string_view value);

std::string EncodeSession(const SessionInfo& s);
// DataLoss if the CRC over (key || record) fails, the record does not parse or contradicts its
// key, or a field is out of range.
absl::StatusOr<SessionInfo> DecodeSession(std::string_view key, std::string_view value);

std::string EncodeDocument(uint64_t sid, const DocumentInfo& d);
absl::StatusOr<DocumentInfo> DecodeDocument(std::string_view key, std::string_view value);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_RECORDS_H_
