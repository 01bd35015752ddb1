// kernels/device_link.h over NCCL, loaded with dlopen (headers only at build time).
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <cstring>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/cuda/dl_symbol.h"
#include "kernels/device_link.h"

namespace mneme::kernels {
namespace {

struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) init_rank;
  decltype(&ncclCommDestroy) destroy;
  decltype(&ncclCommAbort) abort;
  decltype(&ncclSend) send;
  decltype(&ncclRecv) recv;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
  decltype(&ncclGetErrorString) error_string;
};

absl::StatusOr<const NcclApi*> LoadNccl() {
  // NVLink multicast stays off (it can take shared GPUs out of service); an explicit setting wins.
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  static NcclApi api;
  static std::string error;
  static const bool loaded = [] {
    void* lib = nullptr;
    // The system's, else the one PyTorch's wheels ship.
    for (const char* path : {"libnccl.so.2", "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
                             "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnccl.so.2"}) {
      if ((lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    }
    if (lib == nullptr) {
      error = absl::StrFormat("cannot load libnccl.so.2 (%s)", dlerror());
      return false;
    }
    bool ok = true;
    auto get = [&](auto& fn, const char* name) { ok = cuda::LoadSymbol(lib, "libnccl.so.2", name, &fn, &error) && ok; };
    get(api.get_unique_id, "ncclGetUniqueId");
    get(api.init_rank, "ncclCommInitRank");
    get(api.destroy, "ncclCommDestroy");
    get(api.abort, "ncclCommAbort");
    get(api.send, "ncclSend");
    get(api.recv, "ncclRecv");
    get(api.group_start, "ncclGroupStart");
    get(api.group_end, "ncclGroupEnd");
    get(api.error_string, "ncclGetErrorString");
    return ok;
  }();
  if (!loaded) return absl::UnavailableError(error);
  return &api;
}

absl::Status Check(const NcclApi* api, ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrFormat("NCCL %s: %s", what, api->error_string(r)));
}

class NcclLink final : public DeviceLink {
 public:
  NcclLink(const NcclApi* api, ncclComm_t comm, cudaStream_t stream) : api_(api), comm_(comm), stream_(stream) {}
  ~NcclLink() override {
    if (comm_ == nullptr) return;
    if (aborted_) {
      api_->abort(comm_);
    } else {
      api_->destroy(comm_);
    }
  }
  std::string name() const override { return "nccl"; }
  absl::Status Send(int peer, const void* src, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(Usable());
    return Check(api_, api_->send(src, bytes, ncclUint8, peer, comm_, stream_), "send");
  }
  absl::Status Recv(int peer, void* dst, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(Usable());
    return Check(api_, api_->recv(dst, bytes, ncclUint8, peer, comm_, stream_), "recv");
  }
  absl::Status GroupStart() override { return Check(api_, api_->group_start(), "group start"); }
  absl::Status GroupEnd() override { return Check(api_, api_->group_end(), "group end"); }
  absl::Status Wait(std::chrono::steady_clock::time_point deadline) override {
    MNEME_RETURN_IF_ERROR(Usable());
    int spins = 0;
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return absl::OkStatus();
      if (e != cudaErrorNotReady) return absl::InternalError(absl::StrFormat("CUDA stream: %s", cudaGetErrorString(e)));
      if (std::chrono::steady_clock::now() > deadline) {
        aborted_ = true;  // the kernels of a transfer whose peer is gone never finish
        api_->abort(comm_);
        comm_ = nullptr;
        return absl::UnavailableError("a peer did not complete an NCCL transfer within the deadline");
      }
      if (++spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  absl::Status Usable() const {
    return comm_ != nullptr ? absl::OkStatus() : absl::UnavailableError("the NCCL link was aborted");
  }
  const NcclApi* api_;
  ncclComm_t comm_;
  cudaStream_t stream_;
  bool aborted_ = false;
};

}  // namespace

absl::StatusOr<std::string> NcclUniqueId() {
  MNEME_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());
  ncclUniqueId id;
  MNEME_RETURN_IF_ERROR(Check(api, api->get_unique_id(&id), "unique id"));
  return std::string(id.internal, sizeof(id.internal));
}

absl::StatusOr<std::unique_ptr<DeviceLink>> NewNcclLink(Backend* backend, int rank, int size, const std::string& id) {
  MNEME_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());
  if (backend->native_stream() == nullptr) return absl::InvalidArgumentError("NCCL needs the cuda backend");
  ncclUniqueId uid;
  if (id.size() != sizeof(uid.internal)) return absl::InvalidArgumentError("NCCL id of the wrong size");
  std::memcpy(uid.internal, id.data(), sizeof(uid.internal));
  ncclComm_t comm = nullptr;
  MNEME_RETURN_IF_ERROR(Check(api, api->init_rank(&comm, size, uid, rank), "init"));
  return std::unique_ptr<DeviceLink>(new NcclLink(api, comm, static_cast<cudaStream_t>(backend->native_stream())));
}

}  // namespace mneme::kernels
