// How memory-parallel ranks talk: an interface over point-to-point messages with deadlines, so
// a rank that dies or stalls turns into UNAVAILABLE naming it instead of a hang
// (engine/parallel/README in docs/parallel.md).
//
// Implementations: MpiTransport (always available; host buffers, so GPU data is staged through
// page-locked host memory by the caller, since the GPU host's Open MPI is not CUDA-aware).
// Every rank runs the same binary; rank 0 is the coordinator.
#ifndef MNEME_ENGINE_PARALLEL_TRANSPORT_H_
#define MNEME_ENGINE_PARALLEL_TRANSPORT_H_

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mneme::parallel {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline Deadline Never() { return Deadline::max(); }
inline Deadline After(std::chrono::milliseconds ms) { return Clock::now() + ms; }

// Message tags.
enum Tag : int { kRequestTag = 11, kReplyTag = 12 };

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;

  // Sends `bytes` to `peer`; returns once the buffer may be reused. UNAVAILABLE naming the peer
  // if it does not take the message by `deadline`.
  [[nodiscard]] virtual absl::Status Send(int peer, int tag, std::string_view bytes, Deadline deadline) = 0;
  // Receives the next message with `tag` from `peer` (any size) into *out. UNAVAILABLE naming
  // the peer if none arrives by `deadline`.
  [[nodiscard]] virtual absl::Status Recv(int peer, int tag, std::string* out, Deadline deadline) = 0;
  // Blocks until every rank arrives (a collective), or UNAVAILABLE at the deadline.
  [[nodiscard]] virtual absl::Status Barrier(Deadline deadline) = 0;
  // True when `peer` is known to be gone (its process exited); transports that cannot tell
  // return false and rely on deadlines.
  virtual bool PeerGone(int peer) const { return false; }
};

// One rank alone (no launcher): a sharded memory of one shard. Messages have nowhere to go.
class SoloTransport final : public Transport {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "none"; }
  absl::Status Send(int, int, std::string_view, Deadline) override { return absl::FailedPreconditionError("one rank: no peer"); }
  absl::Status Recv(int, int, std::string*, Deadline) override { return absl::FailedPreconditionError("one rank: no peer"); }
  absl::Status Barrier(Deadline) override { return absl::OkStatus(); }
};

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_TRANSPORT_H_
