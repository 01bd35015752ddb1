#include "engine/parallel/mpi_transport.h"

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::parallel {
namespace {

absl::Status MpiError(int rc, const char* what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return absl::InternalError(absl::StrFormat("MPI %s: %s", what, std::string(msg, static_cast<size_t>(len))));
}

// Polling cadence: spin briefly (decode-time round trips are tens of microseconds), then sleep
// in short steps so a waiting rank does not burn its core.
void Pause(int* spins) {
  if (++*spins < 20000) return;
  std::this_thread::sleep_for(std::chrono::microseconds(100));
}

}  // namespace

bool MpiTransport::Launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<MpiTransport>> MpiTransport::Init(int* argc, char*** argv) {
  int provided = 0;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return MpiError(rc, "init");
  std::unique_ptr<MpiTransport> t(new MpiTransport());
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &t->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &t->size_);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  MNEME_ASSIGN_OR_RETURN(t->hosts_, t->AllGather(host));
  MNEME_ASSIGN_OR_RETURN(std::vector<std::string> pids, t->AllGather(std::to_string(getpid())));
  for (const std::string& p : pids) t->pids_.push_back(std::atol(p.c_str()));
  return t;
}

MpiTransport::~MpiTransport() {
  if (!abandoned_) MPI_Finalize();
}

bool MpiTransport::PeerGone(int peer) const {
  const size_t p = static_cast<size_t>(peer);
  if (p >= pids_.size() || hosts_[p] != hosts_[static_cast<size_t>(rank_)]) return false;
  return kill(static_cast<pid_t>(pids_[p]), 0) != 0 && errno == ESRCH;
}

absl::Status MpiTransport::Wait(void* request, int peer, const char* what, Deadline deadline) {
  MPI_Request* req = static_cast<MPI_Request*>(request);
  int spins = 0;
  for (;;) {
    int done = 0;
    const int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return absl::UnavailableError(absl::StrFormat("rank %d lost: MPI %s failed", peer, what));
    if (done) return absl::OkStatus();
    if (Clock::now() > deadline || ((spins & 1023) == 1023 && PeerGone(peer))) {
      // The request may never complete; leave it (the process is about to give up on MPI).
      return absl::UnavailableError(absl::StrFormat("rank %d lost: no %s within the deadline", peer, what));
    }
    Pause(&spins);
  }
}

absl::Status MpiTransport::Send(int peer, int tag, std::string_view bytes, Deadline deadline) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrFormat("message of %d bytes exceeds MPI's count limit", bytes.size()));
  }
  MPI_Request req;
  const int rc = MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &req);
  if (rc != MPI_SUCCESS) return absl::UnavailableError(absl::StrFormat("rank %d lost: send failed", peer));
  return Wait(&req, peer, "send", deadline);
}

absl::Status MpiTransport::Recv(int peer, int tag, std::string* out, Deadline deadline) {
  int spins = 0;
  for (;;) {
    int found = 0;
    MPI_Message msg;
    MPI_Status st;
    int rc = MPI_Improbe(peer, tag, MPI_COMM_WORLD, &found, &msg, &st);
    if (rc != MPI_SUCCESS) return absl::UnavailableError(absl::StrFormat("rank %d lost: probe failed", peer));
    if (found) {
      int count = 0;
      MPI_Get_count(&st, MPI_BYTE, &count);
      // The receive may outlive this call when the peer stalls mid-message: its buffer is
      // handed over only on completion and deliberately leaked otherwise (the process is
      // about to give up on MPI), so a late transfer never writes into freed memory.
      auto buffer = std::make_unique<std::string>(static_cast<size_t>(count), '\0');
      MPI_Request req;
      rc = MPI_Imrecv(buffer->data(), count, MPI_BYTE, &msg, &req);
      if (rc != MPI_SUCCESS) return absl::UnavailableError(absl::StrFormat("rank %d lost: receive failed", peer));
      absl::Status done = Wait(&req, peer, "message", deadline);
      if (!done.ok()) {
        buffer.release();  // NOLINT: see above
        return done;
      }
      *out = std::move(*buffer);
      return absl::OkStatus();
    }
    if (Clock::now() > deadline || ((spins & 1023) == 1023 && PeerGone(peer))) {
      return absl::UnavailableError(absl::StrFormat("rank %d lost: no message within the deadline", peer));
    }
    Pause(&spins);
  }
}

absl::StatusOr<std::vector<std::string>> MpiTransport::AllGather(const std::string& value) {
  const int n = static_cast<int>(value.size());
  std::vector<int> sizes(static_cast<size_t>(size_));
  int rc = MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return MpiError(rc, "allgather");
  std::vector<int> offsets(static_cast<size_t>(size_));
  int total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) offsets[i] = total, total += sizes[i];
  std::string all(static_cast<size_t>(total), '\0');
  rc = MPI_Allgatherv(value.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return MpiError(rc, "allgatherv");
  std::vector<std::string> out;
  for (size_t i = 0; i < sizes.size(); ++i) out.push_back(all.substr(static_cast<size_t>(offsets[i]), static_cast<size_t>(sizes[i])));
  return out;
}

absl::Status MpiTransport::Barrier(Deadline deadline) {
  MPI_Request req;
  const int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
  if (rc != MPI_SUCCESS) return MpiError(rc, "barrier");
  return Wait(&req, 0, "barrier", deadline);
}

}  // namespace mneme::parallel
