// Moving backend memory between the ranks of a memory-parallel job without staging it in host
// memory: NCCL point-to-point between CUDA GPUs (engine/parallel uses it for K̄/V̄ rows, routing
// queries and partial attention outputs when every rank has its own GPU).
//
// NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), so callers create a link only
// when the ranks' devices are distinct. libnccl.so.2 is loaded at run time (dlopen), so nothing
// links NCCL and a machine without it reports Unavailable here.
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
  // Stream-ordered on the backend's stream: the transfer runs after the work queued before it, and
  // the peer must post the matching Recv/Send with the same byte count, in the same order.
  // Transfers posted between GroupStart and GroupEnd proceed together (no ordering deadlock).
  [[nodiscard]] virtual absl::Status Send(int peer, const void* src, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status Recv(int peer, void* dst, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status GroupStart() = 0;
  [[nodiscard]] virtual absl::Status GroupEnd() = 0;
  // Waits until everything queued on the stream is done. UNAVAILABLE at the deadline (a peer
  // died or stalled), and the link is aborted: it cannot be used again.
  [[nodiscard]] virtual absl::Status Wait(std::chrono::steady_clock::time_point deadline) = 0;
};

// The NCCL id that rank 0 makes and every rank passes to NewNcclLink (128 bytes). Unavailable
// without CUDA or a loadable libnccl.so.2.
[[nodiscard]] absl::StatusOr<std::string> NcclUniqueId();

// Joins the NCCL communicator of `size` ranks over `backend`'s device and stream (a collective:
// every rank calls it with the same id). Unavailable as NcclUniqueId; InvalidArgument for a
// backend that is not CUDA.
[[nodiscard]] absl::StatusOr<std::unique_ptr<DeviceLink>> NewNcclLink(Backend* backend, int rank, int size,
                                                                      const std::string& id);

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_DEVICE_LINK_H_
