// Retention for streaming sessions: which live documents an append evicts.
#ifndef MNEME_MEMORY_RETENTION_H_
#define MNEME_MEMORY_RETENTION_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "memory/records.h"

namespace mneme::memory {

struct LiveDoc {
  int64_t ordinal = 0;
  int64_t created_unix_ms = 0;
  int64_t bytes = 0;  // text + segments
};

// `live` holds the session's live documents in ordinal order, the one just appended last, and
// `live_bytes` their byte total. Returns the ordinals to evict, oldest first: while the policy is
// exceeded (more than max_documents, more than max_bytes, or the oldest older than
// max_age_seconds at now_unix_ms), the oldest live document goes. The newest document is never
// evicted, even when it alone exceeds max_bytes.
std::vector<int64_t> PickEvictions(const Retention& policy, const std::deque<LiveDoc>& live,
                                   int64_t live_bytes, int64_t now_unix_ms);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_RETENTION_H_
