// mneme_crash_child <data_dir>: appends the crash workload (crash_workload.h) to the store at
// <data_dir> until it is killed, acknowledging each completed mutation on stdout. Started and
// SIGKILLed by mneme_crash_test; not a user tool.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "memory/store.h"
#include "tests/crash/crash_workload.h"

namespace mneme::crash_test {
namespace {

// One write(2) per line: unbuffered, and atomic on a pipe (< PIPE_BUF bytes).
void WriteLine(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(3);  // the test went away
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void Fail(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "ERR %s: %s\n", what, s.ToString().c_str());
  std::_Exit(2);
}

int Run(const std::string& dir) {
  auto store = memory::Store::Open(dir, {});
  if (!store.ok()) Fail(store.status(), "open");
  memory::Store& st = **store;
  absl::StatusOr<memory::SessionInfo> session = st.GetSession(kSessionName);
  if (absl::IsNotFound(session.status())) session = st.CreateSession(CrashSessionShape());
  if (!session.ok()) Fail(session.status(), "session");
  absl::StatusOr<int64_t> next = st.NextOrdinal(session->id);
  if (!next.ok()) Fail(next.status(), "next ordinal");

  // A kill between the triggering append and its delete leaves the delete pending.
  if (*next > 0 && DeletesAfter(*next - 1)) {
    const int64_t target = DeleteTargetOf(*next - 1);
    absl::StatusOr<memory::DocumentInfo> d = st.GetDocument(session->id, target);
    if (!d.ok()) Fail(d.status(), "reading a pending delete's target");
    if (!d->deleted) {
      if (absl::Status s = st.Delete(*session, target); !s.ok()) Fail(s, "delete");
      WriteLine(absl::StrFormat("DEL %d\n", target));
    }
  }
  WriteLine(absl::StrFormat("READY %d\n", *next));

  for (int64_t ordinal = *next;; ++ordinal) {
    absl::StatusOr<memory::SyntheticDoc> doc = CrashDoc(*session, ordinal);
    if (!doc.ok()) Fail(doc.status(), "synthesizing");
    absl::StatusOr<memory::AppendResult> r =
        st.Append(*session, memory::DocumentWrite{doc->info, doc->text, doc->segments});
    if (!r.ok()) Fail(r.status(), "append");
    WriteLine(absl::StrFormat("ACK %d\n", ordinal));
    if (DeletesAfter(ordinal)) {
      const int64_t target = DeleteTargetOf(ordinal);
      if (absl::Status s = st.Delete(*session, target); !s.ok()) Fail(s, "delete");
      WriteLine(absl::StrFormat("DEL %d\n", target));
    }
  }
}

}  // namespace
}  // namespace mneme::crash_test

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <data_dir>\n", argv[0]);
    return 64;
  }
  return mneme::crash_test::Run(argv[1]);
}
