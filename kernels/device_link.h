// Moving backend memory between the ranks of a memory-parallel job without staging it in host
// memory: NCCL point-to-point between CUDA GPUs (engine/parallel uses it for K̄/V̄ rows, routing
// queries and partial attention outputs when every rank has its own GPU).
//
// NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), so callers create a link only
// when the ranks' devices are distinct. libnccl.so.2 is loaded at run time (dlopen), so nothing
// links NCCL and a machine without it reports Unavailable here.
//
// Only set-up waits for peers inside NCCL (NewNcclLink, which the caller bounds). It connects
// every pair that exchanges data, so later calls only queue work on the stream, and Wait polls
// the transfers against a deadline: past it the link aborts (UNAVAILABLE) and every later call
// fails the same way.
#ifndef MNEME_KERNELS_DEVICE_LINK_H_
#define MNEME_KERNELS_DEVICE_LINK_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace mneme::kernels {

class DeviceLink {
 public:
  virtual ~DeviceLink() = default;
  virtual std::string name() const = 0;
  // Queues the link's transfers on `backend`'s stream from now on. Once, before any transfer;
  // `backend` must drive the device the link was made for (FailedPrecondition otherwise).
  [[nodiscard]] virtual absl::Status Bind(Backend* backend) = 0;
  // Stream-ordered on the bound stream: the transfer runs after the work queued before it, and
  // the peer must post the matching Recv/Send with the same byte count, in the same order.
  // Transfers posted between GroupStart and GroupEnd proceed together (no ordering deadlock);
  // GroupEnd (and an ungrouped Send/Recv) returns once they are queued, so work queued after it
  // runs after them.
  [[nodiscard]] virtual absl::Status Send(int peer, const void* src, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status Recv(int peer, void* dst, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status GroupStart() = 0;
  [[nodiscard]] virtual absl::Status GroupEnd() = 0;
  // Callers make no call that synchronises the stream between posting a transfer and Wait or
  // Abort: it would wait inside CUDA, past any deadline, for a peer that may have failed.
  // Waits until everything queued on the stream is done. UNAVAILABLE at the deadline (a peer
  // died or stalled), and the link is aborted.
  [[nodiscard]] virtual absl::Status Wait(std::chrono::steady_clock::time_point deadline) = 0;
  // Gives the link up: transfers in flight are cancelled and every later call is UNAVAILABLE.
  // For error paths that may have left a posted transfer without its peer's match.
  virtual void Abort() = 0;
  virtual bool aborted() const = 0;
};

// OK when libnccl.so.2 can be loaded here (every rank checks before any joins a communicator, so
// one rank without NCCL does not leave the others waiting in its set-up).
[[nodiscard]] absl::Status NcclLoadable();

// The NCCL id that rank 0 makes and every rank passes to NewNcclLink (128 bytes). Unavailable
// without CUDA or a loadable libnccl.so.2.
[[nodiscard]] absl::StatusOr<std::string> NcclUniqueId();

// Joins the NCCL communicator of `size` >= 2 ranks on CUDA device `device` (a collective: every
// rank calls it with the same id) and connects rank 0 with every other rank, both directions.
// Blocks until every rank has joined: a rank that never does keeps it waiting, so the caller
// bounds it (tools/mneme/cluster.cc ends the rank past --rank-timeout-ms). Unavailable as
// NcclUniqueId, or when NCCL fails.
[[nodiscard]] absl::StatusOr<std::unique_ptr<DeviceLink>> NewNcclLink(int device, int rank, int size,
                                                                      const std::string& id);

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_DEVICE_LINK_H_
