// tools/mneme/cluster.h for a build without MPI: an MPI launcher is refused with a clear error.
#include <cstdlib>

#include "tools/mneme/cluster.h"

namespace mneme::cli {

absl::StatusOr<std::unique_ptr<Cluster>> StartCluster(int*, char***, const ClusterOptions&) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(v) != nullptr) {
      return absl::UnimplementedError("this mneme was built without MPI (MNEME_WITH_MPI=OFF); it cannot run under mpirun");
    }
  }
  return std::unique_ptr<Cluster>();
}
absl::Status PrepareCluster(Cluster*, const std::string&, Context&) { return absl::OkStatus(); }
absl::Status ServeCommand(Cluster*, const std::string&, const std::string&, Context&) { return absl::OkStatus(); }
bool ServedCommand(const std::string&) { return false; }
absl::Status FinishCluster(Cluster*, const std::string&, const absl::Status& status) { return status; }
void FailCluster(Cluster*, const absl::Status&) {}

}  // namespace mneme::cli
