// Status helpers shared by every module.
//
// Debian 12's Abseil (20220623) has no ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN, so mneme
// defines its own. Every fallible function returns absl::Status or absl::StatusOr<T>; foreign
// error types (errno, exceptions, CUDA, RocksDB) are converted at exactly one boundary.
#ifndef MNEME_COMMON_STATUS_H_
#define MNEME_COMMON_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MNEME_STATUS_CONCAT_INNER_(a, b) a##b
#define MNEME_STATUS_CONCAT_(a, b) MNEME_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define MNEME_RETURN_IF_ERROR(expr)                            \
  do {                                                         \
    ::absl::Status mneme_status_ = (expr);                     \
    if (!mneme_status_.ok()) return mneme_status_;             \
  } while (0)

// MNEME_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns
// its status, otherwise moves the value into `lhs` (which may be a declaration).
#define MNEME_ASSIGN_OR_RETURN(lhs, expr) \
  MNEME_ASSIGN_OR_RETURN_IMPL_(MNEME_STATUS_CONCAT_(mneme_statusor_, __LINE__), lhs, expr)
#define MNEME_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

namespace mneme {

// Returns `s` with `context` prepended to its message ("context: message"); OK stays OK.
inline absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  std::string msg(context);
  msg += ": ";
  msg += std::string(s.message());
  return absl::Status(s.code(), msg);
}

}  // namespace mneme

#endif  // MNEME_COMMON_STATUS_H_
