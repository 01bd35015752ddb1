// A document's pooled memory <-> its segments: one segment per routed layer of the session, in
// session.layers order, each bound to (model fingerprint, session, document, layer). The one
// place the store's writers (append, re-encode) and readers (warm restart, benchmarks) convert.
#ifndef MNEME_MEMORY_DOCUMENT_SEGMENTS_H_
#define MNEME_MEMORY_DOCUMENT_SEGMENTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/memory_index.h"
#include "memory/records.h"

namespace mneme::memory {

// REQUIRES: doc has session.layers.size() slots of num_chunks x kv_heads x head_dim values.
// InvalidArgument (from EncodeSegment) for non-finite values or an empty document.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> EncodeDocumentSegments(
    const SessionInfo& session, uint64_t fingerprint, uint64_t document_id, SegmentCodec codec,
    const PooledDocument& doc);

// DataLoss naming session/document/layer when a segment does not verify, has another identity,
// or its shape disagrees with the document record and the session.
[[nodiscard]] absl::StatusOr<PooledDocument> DecodeDocumentSegments(const SessionInfo& session, uint64_t fingerprint,
                                                                    const DocumentInfo& doc,
                                                                    const std::vector<std::string>& segments);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_DOCUMENT_SEGMENTS_H_
