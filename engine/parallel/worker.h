// A worker rank's loop: serve the coordinator's requests (engine/parallel/protocol.h) over this
// rank's shard until told to shut down.
#ifndef MNEME_ENGINE_PARALLEL_WORKER_H_
#define MNEME_ENGINE_PARALLEL_WORKER_H_

#include "absl/status/status.h"
#include "engine/parallel/shard.h"
#include "engine/parallel/transport.h"
#include "kernels/device_link.h"

namespace mneme::parallel {

// Returns OK after kShutdown (its reason goes to *shutdown_reason when given); UNAVAILABLE when
// the coordinator is lost (its process is gone, or a reply cannot be delivered within
// `reply_timeout`). Errors of single requests are answered to the coordinator, not returned.
// With `link` (NCCL between distinct GPUs; the coordinator must have one too) rows, queries
// and partial outputs move device to device, posted before the reply; the request/reply
// headers stay on `transport`. A request whose link transfers fail gives the link up (later
// ones are answered UNAVAILABLE) without ending the loop.
[[nodiscard]] absl::Status ServeShard(Transport* transport, Shard* shard, std::chrono::milliseconds reply_timeout,
                                      std::string* shutdown_reason = nullptr, kernels::DeviceLink* link = nullptr);

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_WORKER_H_
