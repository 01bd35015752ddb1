// The MPI transport (engine/parallel/transport.h): nonblocking sends and matched probes polled
// against a deadline, so a lost peer costs at most the deadline. Host memory only.
//
// Lifetime: Init() initialises MPI once per process (MPI_THREAD_FUNNELED: one thread talks);
// the destructor finalises it unless Abandon() was called (after a peer is lost, MPI_Finalize
// could wait for it forever, so the process exits without it).
#ifndef MNEME_ENGINE_PARALLEL_MPI_TRANSPORT_H_
#define MNEME_ENGINE_PARALLEL_MPI_TRANSPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/parallel/transport.h"

namespace mneme::parallel {

class MpiTransport final : public Transport {
 public:
  // True when this process was started by an MPI launcher (mpirun / srun) with more than zero
  // ranks, judged from the launcher's environment.
  static bool Launched();
  // Initialises MPI and exchanges every rank's host name and pid (PeerGone). Internal on an
  // MPI error.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MpiTransport>> Init(int* argc, char*** argv);
  ~MpiTransport() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  absl::Status Send(int peer, int tag, std::string_view bytes, Deadline deadline) override;
  absl::Status Recv(int peer, int tag, std::string* out, Deadline deadline) override;
  // Peers on this host are checked by pid; peers on other hosts only by deadlines.
  bool PeerGone(int peer) const override;

  // Every rank's `value`, in rank order (a collective: every rank must call it).
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> AllGather(const std::string& value);
  absl::Status Barrier(Deadline deadline) override;
  // Marks MPI unusable for a clean finalize (a peer was lost).
  void Abandon() { abandoned_ = true; }
  const std::vector<std::string>& hosts() const { return hosts_; }

 private:
  MpiTransport() = default;
  absl::Status Wait(void* request, int peer, const char* what, Deadline deadline);
  int rank_ = 0, size_ = 1;
  bool abandoned_ = false;
  std::vector<std::string> hosts_;
  std::vector<long> pids_;
};

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_MPI_TRANSPORT_H_
