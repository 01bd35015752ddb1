// Compaction: optionally re-encodes live documents' segments with another codec (one synced
// batch per document; a crash leaves each document wholly in one codec or the other), then
// compacts the data families with forced blob garbage collection, so the bytes of deleted
// documents and of superseded segments are reclaimed.
#ifndef MNEME_MEMORY_COMPACTION_H_
#define MNEME_MEMORY_COMPACTION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "memory/store.h"

namespace mneme::memory {

struct CompactOptions {
  std::optional<std::string> session;    // re-encode only this session (compaction is store-wide)
  std::optional<SegmentCodec> codec;     // re-encode to this codec; also the session's new default
};

struct CompactReport {
  int64_t bytes_before = 0, bytes_after = 0;  // live SST + blob bytes of the data families
  int64_t documents_reencoded = 0;
  double seconds = 0.0;
};

// NotFound for an unknown session; FailedPrecondition for a read-only store; DataLoss if a segment
// to re-encode does not verify (nothing is rewritten from damaged bytes).
[[nodiscard]] absl::StatusOr<CompactReport> Compact(Store& store, const CompactOptions& opts);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_COMPACTION_H_
