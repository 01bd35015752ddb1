// kernels/device_link.h over NCCL, loaded with dlopen (headers only at build time).
//
// The communicator is blocking: a non-blocking one (ncclConfig_t::blocking = 0) runs every group
// on a thread NCCL creates for it, which cost IDSA's decode about 60 µs per routed layer. What a
// blocking NCCL call can wait for is a peer, and only while connecting: set-up (the caller bounds
// it, device_link.h) connects every pair that will exchange data, both directions, with one tiny
// exchange, so later groups only queue kernels. Transfers are waited for by polling the stream
// against a deadline, and past it the communicator is aborted.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/cuda/dl_symbol.h"
#include "kernels/device_link.h"

namespace mneme::kernels {
namespace {

using Clock = std::chrono::steady_clock;

struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) init_rank;
  decltype(&ncclCommGetAsyncError) async_error;
  decltype(&ncclCommAbort) abort;
  decltype(&ncclSend) send;
  decltype(&ncclRecv) recv;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
  decltype(&ncclGetErrorString) error_string;
};

absl::StatusOr<const NcclApi*> LoadNccl() {
  static NcclApi api;
  static std::string error;
  static const bool loaded = [] {
    // NVLink multicast stays off (it can take shared GPUs out of service); an explicit setting
    // wins. Set once, before NCCL starts any thread.
    setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
    void* lib = nullptr;
    // $MNEME_NCCL_LIBRARY alone when set, else the system's, else the one PyTorch's wheels ship
    // on the GPU host.
    const char* chosen = std::getenv("MNEME_NCCL_LIBRARY");
    const std::vector<const char*> paths =
        chosen != nullptr && *chosen != '\0'
            ? std::vector<const char*>{chosen}
            : std::vector<const char*>{"libnccl.so.2",
                                       "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
                                       "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnccl.so.2"};
    for (const char* path : paths) {
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
    get(api.async_error, "ncclCommGetAsyncError");
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

// MNEME_LINK_TRACE=1: every link operation that takes over a millisecond is logged to stderr
// with its duration (for diagnosing a slow or stuck peer).
class Traced {
 public:
  Traced(const char* what, Clock::time_point start) : what_(what), start_(start) {}
  ~Traced() {
    static const bool on = [] {
      const char* v = std::getenv("MNEME_LINK_TRACE");
      return v != nullptr && *v != '\0' && *v != '0';
    }();
    if (!on) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    if (ms > 1.0) std::fprintf(stderr, "mneme link (pid %d): NCCL %s took %.1f ms\n", static_cast<int>(getpid()), what_, ms);
  }

 private:
  const char* what_;
  Clock::time_point start_;
};

absl::Status Check(const NcclApi* api, ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrFormat("NCCL %s: %s", what, api->error_string(r)));
}

class NcclLink final : public DeviceLink {
 public:
  NcclLink(const NcclApi* api, ncclComm_t comm, int device) : api_(api), comm_(comm), device_(device) {}
  // Every transfer was waited for (Wait) or the link aborted, so nothing is in flight here.
  // ncclCommAbort frees the communicator locally; ncclCommFinalize/Destroy would wait until every
  // rank finalizes ("globally quiescent"), which a rank leaving before its peers cannot afford.
  ~NcclLink() override {
    if (comm_ != nullptr) api_->abort(comm_);
  }
  std::string name() const override { return "nccl"; }

  absl::Status Bind(Backend* backend) override {
    if (stream_ != nullptr) return absl::FailedPreconditionError("the NCCL link is bound already");
    if (backend->native_stream() == nullptr) return absl::InvalidArgumentError("the NCCL link needs the cuda backend");
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device_) {
      return absl::FailedPreconditionError(
          absl::StrFormat("the NCCL link was made for GPU %d, the backend drives GPU %d", device_, current));
    }
    stream_ = static_cast<cudaStream_t>(backend->native_stream());
    return absl::OkStatus();
  }
  absl::Status Send(int peer, const void* src, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(Usable());
    return Queued(api_->send(src, bytes, ncclUint8, peer, comm_, stream_), "send");
  }
  absl::Status Recv(int peer, void* dst, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(Usable());
    return Queued(api_->recv(dst, bytes, ncclUint8, peer, comm_, stream_), "recv");
  }
  absl::Status GroupStart() override {
    MNEME_RETURN_IF_ERROR(Usable());
    MNEME_RETURN_IF_ERROR(Queued(api_->group_start(), "group start"));
    ++depth_;
    return absl::OkStatus();
  }
  absl::Status GroupEnd() override {
    MNEME_RETURN_IF_ERROR(Usable());
    Traced trace("group", Clock::now());
    --depth_;
    return Queued(api_->group_end(), "group");
  }
  absl::Status Wait(Clock::time_point deadline) override {
    MNEME_RETURN_IF_ERROR(Usable());
    Traced trace("transfer wait", Clock::now());
    for (int spins = 0;; ++spins) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return absl::OkStatus();
      if (e != cudaErrorNotReady) {
        Abort();
        return absl::InternalError(absl::StrFormat("CUDA stream: %s", cudaGetErrorString(e)));
      }
      if (spins % 256 == 255) {  // a transport error NCCL noticed in the background
        ncclResult_t async = ncclSuccess;
        api_->async_error(comm_, &async);
        if (async != ncclSuccess && async != ncclInProgress) {
          Abort();
          return absl::UnavailableError(absl::StrFormat("NCCL transfer: %s", api_->error_string(async)));
        }
      }
      if (Clock::now() > deadline) {
        Abort();  // the kernels of a transfer whose peer is gone never finish on their own
        return absl::UnavailableError("a peer rank did not complete an NCCL transfer within the deadline");
      }
      if (spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  void Abort() override {
    // NCCL's group state is per thread: close a group left open by a failed call first.
    for (; depth_ > 0; --depth_) api_->group_end();
    if (comm_ != nullptr) api_->abort(comm_);
    comm_ = nullptr;
  }
  bool aborted() const override { return comm_ == nullptr; }

 private:
  absl::Status Usable() const {
    if (comm_ == nullptr) return absl::UnavailableError("the NCCL link was aborted after an earlier failure");
    if (stream_ == nullptr) return absl::FailedPreconditionError("the NCCL link is not bound to a stream");
    return absl::OkStatus();
  }
  // Any failure gives the link up (a half-posted group cannot be completed).
  absl::Status Queued(ncclResult_t r, const char* what) {
    absl::Status st = Check(api_, r, what);
    if (!st.ok()) Abort();
    return st;
  }

  const NcclApi* api_;
  ncclComm_t comm_;  // null once aborted
  const int device_;
  cudaStream_t stream_ = nullptr;
  int depth_ = 0;  // open GroupStart calls
};

}  // namespace

absl::Status NcclLoadable() { return LoadNccl().status(); }

absl::StatusOr<std::string> NcclUniqueId() {
  MNEME_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());
  ncclUniqueId id;
  const ncclResult_t r = api->get_unique_id(&id);
  if (r != ncclSuccess) return absl::UnavailableError(absl::StrFormat("NCCL unique id: %s", api->error_string(r)));
  return std::string(id.internal, sizeof(id.internal));
}

absl::StatusOr<std::unique_ptr<DeviceLink>> NewNcclLink(int device, int rank, int size, const std::string& id) {
  MNEME_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());
  ncclUniqueId uid;
  if (id.size() != sizeof(uid.internal)) return absl::InvalidArgumentError("NCCL id of the wrong size");
  if (size < 2 || rank < 0 || rank >= size) return absl::InvalidArgumentError(absl::StrFormat("NCCL rank %d of %d", rank, size));
  std::memcpy(uid.internal, id.data(), sizeof(uid.internal));
  auto cuda = [](cudaError_t e, const char* what) {
    return e == cudaSuccess ? absl::OkStatus() : absl::UnavailableError(absl::StrFormat("NCCL set-up: %s: %s", what, cudaGetErrorString(e)));
  };
  MNEME_RETURN_IF_ERROR(cuda(cudaSetDevice(device), "cudaSetDevice"));
  // The connecting exchange's buffers, made before joining: a rank failing here must not leave
  // the others waiting inside NCCL for it.
  void* scratch = nullptr;
  cudaStream_t stream = nullptr;
  absl::Status st = cuda(cudaMalloc(&scratch, 2 * static_cast<size_t>(size) * sizeof(uint64_t)), "cudaMalloc");
  if (st.ok()) st = cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  ncclComm_t comm = nullptr;
  if (st.ok()) st = Check(api, api->init_rank(&comm, size, uid, rank), "set-up");
  std::unique_ptr<NcclLink> link;
  if (comm != nullptr) link = std::make_unique<NcclLink>(api, comm, device);  // owns it from here
  // Connects rank 0 with every other rank in both directions (the pairs that exchange data), in
  // one group on both sides: NCCL connects a pair on its first transfer and needs both sides'
  // groups to ask for the same connections then.
  if (st.ok()) st = Check(api, api->group_start(), "connect");
  if (st.ok()) {
    auto* slots = static_cast<uint64_t*>(scratch);
    for (int peer = 0; peer < size && st.ok(); ++peer) {
      if (peer == rank || (rank != 0 && peer != 0)) continue;
      st = Check(api, api->send(slots + 2 * peer, sizeof(uint64_t), ncclUint8, peer, comm, stream), "connect");
      if (st.ok()) st = Check(api, api->recv(slots + 2 * peer + 1, sizeof(uint64_t), ncclUint8, peer, comm, stream), "connect");
    }
    const absl::Status ended = Check(api, api->group_end(), "connect");
    if (st.ok()) st = ended;
  }
  if (st.ok()) st = cuda(cudaStreamSynchronize(stream), "connect");
  // On failure the communicator is aborted first: cudaFree would wait for a stuck transfer.
  if (!st.ok()) link.reset();
  if (stream != nullptr) cudaStreamDestroy(stream);
  if (scratch != nullptr) cudaFree(scratch);
  if (!st.ok()) return st;
  return std::unique_ptr<DeviceLink>(std::move(link));
}

}  // namespace mneme::kernels
