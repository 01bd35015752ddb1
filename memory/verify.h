// Full verification of a store: RocksDB's block checksums (VerifyChecksum), whole-file
// checksums (VerifyFileChecksums), then every record: session and document records parse
// under their keys, live documents' texts match their CRCs, every segment decodes under its
// (model, session, document, layer) identity with the document's chunk count and the session's
// KV shape, and tombstoned documents hold no bytes. Texts and segments that belong to no live
// document of a known session (orphans, e.g. from a WAL of another store) are reported too.
// One sequential pass over each family.
#ifndef MNEME_MEMORY_VERIFY_H_
#define MNEME_MEMORY_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/store.h"

namespace mneme::memory {

struct VerifyProblem {
  std::string session;  // empty: store-wide (a file, the store record)
  int64_t ordinal = -1;
  int layer = -1;
  std::string what;
  std::string Describe() const;
};

struct VerifyReport {
  int64_t sessions = 0, documents = 0, live_documents = 0, segments = 0;
  int64_t bytes_checked = 0;  // texts + segments decoded
  double seconds = 0.0;
  std::vector<VerifyProblem> problems;
  bool ok() const { return problems.empty(); }
};

// Damage is reported in the report (never as wrong data); the status is non-OK only when the
// verification itself cannot proceed. Stops collecting after `max_problems`.
[[nodiscard]] absl::StatusOr<VerifyReport> VerifyStore(const Store& store, size_t max_problems = 1000);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_VERIFY_H_
