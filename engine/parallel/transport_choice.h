// Which transport a memory-parallel job moves device data with (docs/parallel.md, Transport).
// Every rank decides from the same list (the devices all ranks drive, exchanged at start), so
// they agree without another message.
//
// MPI always carries requests and replies. Device data (exact mode's K̄/V̄ rows, IDSA's queries
// and partial outputs) goes over NCCL when every rank drives a GPU of its own, else through
// page-locked host buffers over MPI: NCCL refuses two ranks on one GPU ("Duplicate GPU
// detected"), and CPU ranks have no device memory to link.
#ifndef MNEME_ENGINE_PARALLEL_TRANSPORT_CHOICE_H_
#define MNEME_ENGINE_PARALLEL_TRANSPORT_CHOICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::parallel {

struct TransportChoice {
  bool nccl = false;
  std::string why;     // why not NCCL; empty when nccl
  int devices = 0;     // distinct devices over all ranks
  bool all_gpu = false;
};

// `devices[r]` names rank r's device as "<host>:<kernels::DeviceIdentity>" ("vm:gpu@0000:60:00.0",
// "vm:cpu"); `want` is --transport: "auto" and "nccl" take NCCL where it can work, "mpi" never.
// FailedPrecondition for "nccl" where it cannot (the message says why; one rank alone has nothing
// to link and is not an error); InvalidArgument for another `want` or an empty list.
[[nodiscard]] absl::StatusOr<TransportChoice> ChooseTransport(const std::vector<std::string>& devices,
                                                              const std::string& want);

// The NCCL set-up's agreement, from what every rank reported at start: "!<why>" from a rank that
// cannot load NCCL (or rank 0 failing to make the communicator's id), "+<id>" from rank 0, empty
// from the others. Returns rank 0's id when every rank can take part; otherwise Unavailable
// naming the first rank that cannot (no rank then starts the set-up, which would wait for it).
[[nodiscard]] absl::StatusOr<std::string> AgreeNcclId(const std::vector<std::string>& reports);

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_TRANSPORT_CHOICE_H_
