#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/cuda/cublaslt.h"
#include "kernels/cuda/launch.h"

namespace mneme::kernels {
namespace {

absl::Status CudaCheck(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  if (e == cudaErrorMemoryAllocation) {
    return absl::ResourceExhaustedError(absl::StrFormat("cuda %s: %s", what, cudaGetErrorString(e)));
  }
  return absl::InternalError(absl::StrFormat("cuda %s: %s", what, cudaGetErrorString(e)));
}

class CudaMemory final : public DeviceMemory {
 public:
  CudaMemory(void* p, size_t n) : p_(p), n_(n) {}
  ~CudaMemory() override { cudaFree(p_); }
  void* data() override { return p_; }
  size_t size_bytes() const override { return n_; }

 private:
  void* p_;
  size_t n_;
};

class CudaBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<Backend>> Create(int device) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || device < 0 || device >= count) {
      cudaGetLastError();  // clear the sticky "no device" error
      return absl::UnavailableError(absl::StrFormat("no CUDA device %d (%d present)", device, count));
    }
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(device), "cudaSetDevice"));
    std::unique_ptr<CudaBackend> be(new CudaBackend(device));
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaStreamCreateWithFlags(&be->stream_, cudaStreamNonBlocking), "stream"));
    MNEME_ASSIGN_OR_RETURN(be->gemm_, cuda::CublasLtGemm::Create(size_t{32} << 20));
    cudaDeviceProp prop{};
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaGetDeviceProperties(&prop, device), "properties"));
    be->device_name_ = prop.name;
    be->sms_ = prop.multiProcessorCount;
    return std::unique_ptr<Backend>(std::move(be));
  }

  ~CudaBackend() override {
    if (stream_) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
    if (staging_) cudaFree(staging_);
    for (Scratch* b : {&q16_, &scores_, &topk_ws_, &top_s_, &top_i_, &x16_}) {
      if (b->ptr) cudaFree(b->ptr);
    }
  }

  std::string name() const override { return "cuda"; }
  bool host_addressable() const override { return false; }

  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess) {
      cudaGetLastError();
      return absl::ResourceExhaustedError(absl::StrFormat(
          "cuda (%s): cannot allocate %d bytes: %s", device_name_, bytes, cudaGetErrorString(e)));
    }
    return std::unique_ptr<DeviceMemory>(new CudaMemory(p, bytes));
  }
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy to device"));
    return CudaCheck(cudaStreamSynchronize(stream_), "copy to device");
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host"));
    return CudaCheck(cudaStreamSynchronize(stream_), "copy to host");
  }
  absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes) override {
    return CudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy on device");
  }
  absl::Status Synchronize() override { return CudaCheck(cudaStreamSynchronize(stream_), "synchronize"); }

  bool supports_bf16_weights() const override { return true; }

  absl::Status MatMul(const MatMulParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    const int64_t ldy = p.ldy == 0 ? p.n : p.ldy;
    if (p.w_type == DType::kF32) return gemm_->Run(p.x, p.w, p.y, p.m, p.n, p.k, ldy, p.accumulate, false, stream_);
    // bf16 weights: round x to bf16 into scratch (grown once to the largest batch), then a bf16
    // GEMM with fp32 accumulation and fp32 output.
    MNEME_RETURN_IF_ERROR(Grow(&x16_, static_cast<size_t>(p.m * p.k) * 2));
    uint16_t* x16 = static_cast<uint16_t*>(x16_.ptr);
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchToBf16(p.x, x16, p.m * p.k, stream_), "MatMul x to bf16"));
    return gemm_->Run(x16, p.w, p.y, p.m, p.n, p.k, ldy, p.accumulate, true, stream_);
  }
  absl::Status RmsNorm(const RmsNormParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchRmsNorm<float>(p.x, p.weight, p.y, p.rows, p.dim, p.eps, stream_), "RmsNorm");
  }
  absl::Status Rope(const RopeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    MNEME_ASSIGN_OR_RETURN(const int32_t* pos, Stage(p.positions, p.tokens));
    return CudaCheck(cuda::LaunchRope<float>(p.x, pos, p.tokens, p.heads, p.head_dim, p.theta, stream_), "Rope");
  }
  absl::Status Attention(const AttentionParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    if (p.head_dim > 256) {
      return absl::UnimplementedError(absl::StrFormat("cuda Attention: head_dim %d > 256", p.head_dim));
    }
    cuda::AttentionArgs a{p.q, p.k, p.v, p.out, p.q_tokens, p.kv_len, p.q_offset,
                          static_cast<int>(p.num_heads), static_cast<int>(p.num_kv_heads),
                          static_cast<int>(p.head_dim), p.scale, p.causal};
    return CudaCheck(cuda::LaunchAttention(a, stream_), "Attention");
  }
  absl::Status SwiGlu(const SwiGluParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchSwiGlu<float>(p.gate_up, p.out, p.tokens, p.inter, stream_), "SwiGlu");
  }
  absl::Status Embedding(const EmbeddingParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));  // checks the ids on the host before they move
    MNEME_ASSIGN_OR_RETURN(const int32_t* ids, Stage(p.ids, p.tokens));
    return CudaCheck(cuda::LaunchEmbedding<float>(p.table, ids, p.out, p.tokens, p.dim, stream_), "Embedding");
  }
  absl::Status RouteScores(const RouteScoresParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchRouteScores(p.q, p.keys, p.chunk_doc, p.doc_scores, p.q_tokens,
                                             p.chunks, p.width, p.num_docs, stream_), "RouteScores");
  }

  absl::Status RouteTopK(const RouteTopKParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    if (p.width % 64 != 0 || p.width < 64 || p.width > 1024 || p.top_k > 1024) {
      return absl::UnimplementedError(absl::StrFormat(
          "cuda RouteTopK: width %d (needs a multiple of 64 in [64, 1024]) or top_k %d > 1024", p.width, p.top_k));
    }
    *p.selected = 0;
    if (p.num_docs == 0) return absl::OkStatus();
    const int k = p.top_k;
    MNEME_RETURN_IF_ERROR(Grow(&q16_, static_cast<size_t>(p.q_tokens * p.width) * 2));
    MNEME_RETURN_IF_ERROR(Grow(&scores_, static_cast<size_t>(p.num_docs) * sizeof(float)));
    MNEME_RETURN_IF_ERROR(Grow(&topk_ws_, cuda::TopKWorkspaceBytes(p.num_docs, k)));
    MNEME_RETURN_IF_ERROR(Grow(&top_s_, static_cast<size_t>(k) * sizeof(float)));
    MNEME_RETURN_IF_ERROR(Grow(&top_i_, static_cast<size_t>(k) * sizeof(int32_t)));
    uint16_t* q16 = static_cast<uint16_t*>(q16_.ptr);
    float* scores = static_cast<float*>(scores_.ptr);
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchToBf16(p.q, q16, p.q_tokens * p.width, stream_), "RouteTopK q"));
    // One pass per 64-token block of the question; later passes keep the running max.
    for (int64_t t0 = 0; t0 < p.q_tokens; t0 += 64) {
      MNEME_RETURN_IF_ERROR(CudaCheck(
          cuda::LaunchRouteBf16(q16 + t0 * p.width, p.keys, p.chunk_doc, scores,
                                static_cast<int>(std::min<int64_t>(64, p.q_tokens - t0)), p.chunks,
                                static_cast<int>(p.width), p.num_docs, sms_, stream_, t0 == 0),
          "RouteTopK scan"));
    }
    if (p.dead) MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchMaskDead(scores, p.dead, p.num_docs, stream_), "RouteTopK mask"));
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchTopK(scores, p.num_docs, k, static_cast<float*>(top_s_.ptr),
                                                     static_cast<int32_t*>(top_i_.ptr), topk_ws_.ptr, stream_),
                                    "RouteTopK top-k"));
    MNEME_RETURN_IF_ERROR(CopyToHost(p.out_scores, top_s_.ptr, static_cast<size_t>(k) * sizeof(float)));
    MNEME_RETURN_IF_ERROR(CopyToHost(p.out_docs, top_i_.ptr, static_cast<size_t>(k) * sizeof(int32_t)));
    int n = 0;
    while (n < k && p.out_scores[n] != -INFINITY && !std::isnan(p.out_scores[n])) ++n;  // dead, absent: -inf
    *p.selected = n;
    return absl::OkStatus();
  }

 private:
  explicit CudaBackend(int device) : device_(device) {}

  // A device buffer that only grows (to the largest request seen), so steady-state calls
  // allocate nothing.
  struct Scratch {
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  absl::Status Grow(Scratch* b, size_t bytes) {
    if (b->bytes >= bytes) return absl::OkStatus();
    const size_t want = std::max(bytes, 2 * b->bytes);
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaStreamSynchronize(stream_), "scratch"));
    if (b->ptr) cudaFree(b->ptr);
    b->ptr = nullptr;
    b->bytes = 0;
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaMalloc(&b->ptr, want), "scratch"));
    b->bytes = want;
    return absl::OkStatus();
  }

  // Copies `n` host int32 values (token ids, positions) into the device staging area and returns
  // its address. The area only grows (to the largest batch seen), and the copy is stream-ordered
  // behind the previous op that read it, so no allocation happens per call in steady state.
  absl::StatusOr<const int32_t*> Stage(const int32_t* host, int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
    if (bytes > staging_bytes_) {
      MNEME_RETURN_IF_ERROR(CudaCheck(cudaStreamSynchronize(stream_), "staging"));
      if (staging_) cudaFree(staging_);
      staging_ = nullptr;
      staging_bytes_ = 0;
      MNEME_RETURN_IF_ERROR(CudaCheck(cudaMalloc(&staging_, bytes), "staging"));
      staging_bytes_ = bytes;
    }
    // From pageable memory the copy is staged by the driver before the call returns, so the
    // caller may reuse `host` at once.
    MNEME_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(staging_, host, bytes, cudaMemcpyHostToDevice, stream_), "staging"));
    return static_cast<const int32_t*>(staging_);
  }

  const int device_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::CublasLtGemm> gemm_;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  int sms_ = 1;
  Scratch q16_, scores_, topk_ws_, top_s_, top_i_;  // RouteTopK
  Scratch x16_;                                     // MatMul activations in bf16
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(int device) {
  return CudaBackend::Create(device);
}

}  // namespace mneme::kernels
