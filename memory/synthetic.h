// Deterministic synthetic documents for store benchmarks and crash/damage tests: the text and
// segments of (session, ordinal) follow from a seed, so a checker can recompute exactly what an
// acknowledged document must hold without keeping a copy.
#ifndef MNEME_MEMORY_SYNTHETIC_H_
#define MNEME_MEMORY_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/records.h"

namespace mneme::memory {

struct SyntheticDoc {
  DocumentInfo info;  // ordinal, id, tokens, chunks, source, codec set
  std::string text;
  std::vector<std::string> segments;  // one per session.layers entry
};

// A session shape for synthetic data: `layers` routed layers of kv_heads x head_dim.
SessionInfo SyntheticSession(std::string name, int layers, int kv_heads, int head_dim);

// The document (session, ordinal, seed) with `chunks` chunks of values in [-2, 2) and a text of
// about `text_bytes` bytes. Deterministic in all arguments.
absl::StatusOr<SyntheticDoc> MakeSyntheticDoc(const SessionInfo& session, int64_t ordinal, uint64_t seed,
                                              int chunks, int text_bytes);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_SYNTHETIC_H_
