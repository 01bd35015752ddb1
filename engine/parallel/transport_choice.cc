#include "engine/parallel/transport_choice.h"

#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mneme::parallel {

absl::StatusOr<TransportChoice> ChooseTransport(const std::vector<std::string>& devices, const std::string& want) {
  if (want != "auto" && want != "mpi" && want != "nccl") {
    return absl::InvalidArgumentError("--transport expects auto, mpi or nccl, not '" + want + "'");
  }
  if (devices.empty()) return absl::InvalidArgumentError("no ranks");
  std::map<std::string, std::vector<int>> by_device;
  for (size_t r = 0; r < devices.size(); ++r) by_device[devices[r]].push_back(static_cast<int>(r));
  TransportChoice c;
  c.devices = static_cast<int>(by_device.size());
  c.all_gpu = true;
  std::string shared;
  for (const auto& [device, ranks] : by_device) {
    const bool gpu = device.find(":gpu") != std::string::npos;
    c.all_gpu = c.all_gpu && gpu;
    if (gpu && ranks.size() > 1) {
      shared += absl::StrFormat("%s%s (ranks %s)", shared.empty() ? "" : ", ", device, absl::StrJoin(ranks, ","));
    }
  }
  if (!c.all_gpu) {
    c.why = "ranks run on the CPU";
  } else if (!shared.empty()) {
    c.why = "GPUs shared: " + shared + "; NCCL refuses ranks sharing a GPU";
  } else if (want == "mpi") {
    c.why = "--transport mpi";
  } else if (devices.size() < 2) {
    c.why = "one rank";
  }
  c.nccl = c.why.empty();
  if (want == "nccl" && !c.nccl && devices.size() > 1) return absl::FailedPreconditionError("--transport nccl: " + c.why);
  return c;
}

absl::StatusOr<std::string> AgreeNcclId(const std::vector<std::string>& reports) {
  for (size_t r = 0; r < reports.size(); ++r) {
    if (!reports[r].empty() && reports[r][0] == '!') {
      return absl::UnavailableError(absl::StrFormat("NCCL is not available on rank %d: %s", r, reports[r].substr(1)));
    }
  }
  if (reports.empty() || reports[0].size() < 2 || reports[0][0] != '+') {
    return absl::InternalError("rank 0 reported no NCCL id");
  }
  return reports[0].substr(1);
}

}  // namespace mneme::parallel
