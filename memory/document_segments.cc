#include "memory/document_segments.h"

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::memory {

absl::StatusOr<std::vector<std::string>> EncodeDocumentSegments(const SessionInfo& session, uint64_t fingerprint,
                                                                 uint64_t document_id, SegmentCodec codec,
                                                                 const PooledDocument& doc) {
  const SegmentShape shape{static_cast<uint32_t>(doc.num_chunks), static_cast<uint16_t>(session.kv_heads),
                           static_cast<uint16_t>(session.head_dim)};
  std::vector<std::string> out;
  out.reserve(session.layers.size());
  for (size_t i = 0; i < session.layers.size(); ++i) {
    const SegmentKey key{fingerprint, session.id, document_id, static_cast<uint32_t>(session.layers[i])};
    MNEME_ASSIGN_OR_RETURN(std::string seg,
                           EncodeSegment(key, codec, shape, doc.k[i].data(), doc.v[i].data(), doc.kr[i].data()));
    out.push_back(std::move(seg));
  }
  return out;
}

absl::StatusOr<PooledDocument> DecodeDocumentSegments(const SessionInfo& session, uint64_t fingerprint,
                                                      const DocumentInfo& doc,
                                                      const std::vector<std::string>& segments) {
  if (segments.size() != session.layers.size()) {
    return absl::DataLossError(absl::StrFormat("session '%s' document %d: %d segments for %d routed layers",
                                               session.name, doc.ordinal, segments.size(), session.layers.size()));
  }
  PooledDocument out;
  out.num_chunks = doc.chunks;
  out.num_tokens = doc.tokens;
  const size_t slots = segments.size();
  out.k.resize(slots);
  out.v.resize(slots);
  out.kr.resize(slots);
  for (size_t i = 0; i < slots; ++i) {
    const SegmentKey key{fingerprint, session.id, doc.id, static_cast<uint32_t>(session.layers[i])};
    MNEME_ASSIGN_OR_RETURN(DecodedSegment dec, DecodeSegment(segments[i], key));
    if (dec.shape.chunks != static_cast<uint32_t>(doc.chunks) || dec.shape.kv_heads != session.kv_heads ||
        dec.shape.head_dim != session.head_dim) {
      return absl::DataLossError(absl::StrFormat(
          "session '%s' document %d layer %d: segment shape %dx%dx%d disagrees with the record (%d chunks) and session",
          session.name, doc.ordinal, session.layers[i], dec.shape.chunks, dec.shape.kv_heads, dec.shape.head_dim,
          doc.chunks));
    }
    out.k[i] = std::move(dec.k);
    out.v[i] = std::move(dec.v);
    out.kr[i] = std::move(dec.kr);
  }
  return out;
}

}  // namespace mneme::memory
