#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/cuda/cublaslt.h"
#include "kernels/cuda/launch.h"
#include "kernels/reference/reference_ops.h"

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

// Page-locked host memory (cudaHostAlloc): the DMA engine reads it directly, so uploads from it
// run at full PCIe speed and may be asynchronous.
class PinnedMemory final : public DeviceMemory {
 public:
  PinnedMemory(void* p, size_t n) : p_(p), n_(n) {}
  ~PinnedMemory() override { cudaFreeHost(p_); }
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
    for (Scratch* b : {&q16_, &scores_, &topk_ws_, &top_, &x16_, &att_q16_, &att_k16_, &att_v16_,
                       &att_o16_, &split_, &sample_, &positions_.dev, &ids_.dev, &att_cu_.dev, &att_tiles_.dev}) {
      if (b->ptr) cudaFree(b->ptr);
    }
  }

  std::string name() const override { return "cuda"; }
  bool host_addressable() const override { return false; }
  void* native_stream() const override { return stream_; }

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
  absl::StatusOr<std::unique_ptr<DeviceMemory>> AllocateHost(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, std::max<size_t>(bytes, 1), cudaHostAllocDefault);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return absl::ResourceExhaustedError(absl::StrFormat(
          "cuda: cannot allocate %d bytes of page-locked host memory: %s", bytes, cudaGetErrorString(e)));
    }
    return std::unique_ptr<DeviceMemory>(new PinnedMemory(p, bytes));
  }
  absl::Status CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override {
    return CudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "async copy to device");
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
    // A few rows (decode): one bandwidth-bound kernel reads the bf16 weights once, rounding x
    // to bf16 in registers.
    if (cuda::GemvBf16Supports(p.m, p.k, p.x, p.w)) {
      return CudaCheck(cuda::LaunchGemvBf16(p.x, static_cast<const uint16_t*>(p.w), p.y, p.m, p.n, p.k, ldy,
                                            p.accumulate, stream_), "MatMul (bf16 GEMV)");
    }
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
    MNEME_ASSIGN_OR_RETURN(const int32_t* pos, Stage(&positions_, p.positions, p.tokens));
    return CudaCheck(cuda::LaunchRope<float>(p.x, pos, p.tokens, p.heads, p.head_dim, p.theta, stream_), "Rope");
  }
  absl::Status Attention(const AttentionParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    if (p.head_dim > 256) {
      return absl::UnimplementedError(absl::StrFormat("cuda Attention: head_dim %d > 256", p.head_dim));
    }
    if (p.allow_bf16 && !p.lse && p.causal && p.q_offset == 0 && p.q_tokens == p.kv_len && p.head_dim == 128) {
      return CausalBlockBf16(p);
    }
    if (p.num_seqs > 0) return PackedAttention(p, [this](const AttentionParams& one) { return Attention(one); });
    cuda::AttentionArgs a{p.q, p.k, p.v, p.out, p.q_tokens, p.kv_len, p.q_offset,
                          static_cast<int>(p.num_heads), static_cast<int>(p.num_kv_heads),
                          static_cast<int>(p.head_dim), p.scale, p.causal, p.lse,
                          1, p.kv_len, nullptr, nullptr};
    // Split-K when the (token, head) blocks alone leave most SMs idle (decode) and the keys are
    // many: aim at about two blocks per SM, at least kMinSplitKeys keys per split.
    constexpr int64_t kMinSplitKeys = 128;
    const int64_t blocks = p.q_tokens * p.num_heads;
    if (blocks < sms_ && p.kv_len >= 2 * kMinSplitKeys) {
      const int64_t want = std::min<int64_t>((2 * sms_ + blocks - 1) / blocks, p.kv_len / kMinSplitKeys);
      a.splits = static_cast<int>(std::min<int64_t>(want, 64));
      a.split_len = (p.kv_len + a.splits - 1) / a.splits;
      a.splits = static_cast<int>((p.kv_len + a.split_len - 1) / a.split_len);
    }
    if (a.splits > 1) {
      const size_t rows = static_cast<size_t>(a.splits * blocks);
      MNEME_RETURN_IF_ERROR(Grow(&split_, rows * (static_cast<size_t>(p.head_dim) + 1) * sizeof(float)));
      a.part_out = static_cast<float*>(split_.ptr);
      a.part_lse = a.part_out + rows * static_cast<size_t>(p.head_dim);
    }
    return CudaCheck(cuda::LaunchAttention(a, stream_), "Attention");
  }
  absl::Status AttentionMerge(const AttentionMergeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchAttentionMerge(p.outs, p.lses, p.out, p.lse, p.parts, p.rows, p.head_dim, stream_),
                     "AttentionMerge");
  }
  absl::Status ChunkPool(const ChunkPoolParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchChunkPool(p.x, p.out, p.rows, p.width, p.pool, p.l2_head_dim, stream_), "ChunkPool");
  }
  absl::Status Quantize(const QuantizeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchQuantize(p.x, p.codes, p.scales, p.n, p.group, p.codec == ByteCodec::kFp8, stream_),
                     "Quantize");
  }
  absl::Status Dequantize(const DequantizeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    const int kind = p.type == CodeType::kBf16 ? 0 : p.type == CodeType::kInt8 ? 1 : 2;
    return CudaCheck(cuda::LaunchDequantize(p.codes, p.scales, p.out, p.n, p.group, kind, stream_), "Dequantize");
  }
  // The choice stays on the device; only the token (and the NaN flag) crosses the bus.
  absl::Status Sample(const SampleParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    MNEME_RETURN_IF_ERROR(Grow(&sample_, static_cast<size_t>(p.vocab) * sizeof(float) + 2 * sizeof(int)));
    int* flags = reinterpret_cast<int*>(static_cast<float*>(sample_.ptr) + p.vocab);
    MNEME_RETURN_IF_ERROR(CudaCheck(
        cuda::LaunchSample(p.logits, p.vocab, static_cast<float>(p.temperature), static_cast<float>(p.top_p),
                           static_cast<float>(p.uniform), static_cast<float*>(sample_.ptr), flags, stream_),
        "Sample"));
    int host[2] = {0, 0};
    MNEME_RETURN_IF_ERROR(CopyToHost(host, flags, sizeof(host)));
    if (host[1] != 0) return absl::InvalidArgumentError("sample: logits contain NaN");
    *p.token = host[0];
    return absl::OkStatus();
  }
  absl::Status SwiGlu(const SwiGluParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    return CudaCheck(cuda::LaunchSwiGlu<float>(p.gate_up, p.out, p.tokens, p.inter, stream_), "SwiGlu");
  }
  absl::Status Embedding(const EmbeddingParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));  // checks the ids on the host before they move
    MNEME_ASSIGN_OR_RETURN(const int32_t* ids, Stage(&ids_, p.ids, p.tokens));
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
    // Scores then ordinals in one buffer, so one copy brings both back.
    MNEME_RETURN_IF_ERROR(Grow(&top_, static_cast<size_t>(k) * (sizeof(float) + sizeof(int32_t))));
    float* top_s = static_cast<float*>(top_.ptr);
    int32_t* top_i = reinterpret_cast<int32_t*>(top_s + k);
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
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchTopK(scores, p.num_docs, k, top_s, top_i, topk_ws_.ptr, stream_),
                                    "RouteTopK top-k"));
    top_host_.resize(static_cast<size_t>(k) * 2);
    MNEME_RETURN_IF_ERROR(CopyToHost(top_host_.data(), top_.ptr, top_host_.size() * sizeof(float)));
    std::memcpy(p.out_scores, top_host_.data(), static_cast<size_t>(k) * sizeof(float));
    std::memcpy(p.out_docs, top_host_.data() + k, static_cast<size_t>(k) * sizeof(int32_t));
    int n = 0;
    while (n < k && p.out_scores[n] != -INFINITY && !std::isnan(p.out_scores[n])) ++n;  // dead, absent: -inf
    *p.selected = n;
    return absl::OkStatus();
  }

 private:
  explicit CudaBackend(int device) : device_(device) {}

  // A whole causal block from row 0 (document encoding), one document or several packed ones,
  // on the bf16 tensor-core kernel (attention_varlen.cu): q, k, v rounded to bf16, output back
  // to fp32.
  absl::Status CausalBlockBf16(const AttentionParams& p) {
    const int64_t qn = p.q_tokens * p.num_heads * p.head_dim, kn = p.kv_len * p.num_kv_heads * p.head_dim;
    MNEME_RETURN_IF_ERROR(Grow(&att_q16_, static_cast<size_t>(qn) * 2));
    MNEME_RETURN_IF_ERROR(Grow(&att_k16_, static_cast<size_t>(kn) * 2));
    MNEME_RETURN_IF_ERROR(Grow(&att_v16_, static_cast<size_t>(kn) * 2));
    MNEME_RETURN_IF_ERROR(Grow(&att_o16_, static_cast<size_t>(qn) * 2));
    auto* q16 = static_cast<uint16_t*>(att_q16_.ptr);
    auto* k16 = static_cast<uint16_t*>(att_k16_.ptr);
    auto* v16 = static_cast<uint16_t*>(att_v16_.ptr);
    auto* o16 = static_cast<uint16_t*>(att_o16_.ptr);
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchToBf16(p.q, q16, qn, stream_), "Attention q"));
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchToBf16(p.k, k16, kn, stream_), "Attention k"));
    MNEME_RETURN_IF_ERROR(CudaCheck(cuda::LaunchToBf16(p.v, v16, kn, stream_), "Attention v"));
    // The documents' boundaries (one document [0, n) unless packed): every layer of a forward
    // shares them, so the tile table is rebuilt and Stage uploads both only when they change.
    const int32_t one_doc[2] = {0, static_cast<int32_t>(p.q_tokens)};
    const int32_t* cu_host = p.num_seqs > 0 ? p.seq_starts : one_doc;
    const int docs = p.num_seqs > 0 ? static_cast<int>(p.num_seqs) : 1;
    const std::vector<int32_t>& staged = att_cu_.last;  // the boundaries tiles_host_ was built for
    if (staged.size() != static_cast<size_t>(docs + 1) || !std::equal(cu_host, cu_host + docs + 1, staged.begin())) {
      tiles_host_.resize(static_cast<size_t>(2 * cuda::BuildVarlenTiles(cu_host, docs, nullptr)));
      cuda::BuildVarlenTiles(cu_host, docs, tiles_host_.data());
    }
    const int n_tiles = static_cast<int>(tiles_host_.size() / 2);
    MNEME_ASSIGN_OR_RETURN(const int32_t* cu, Stage(&att_cu_, cu_host, docs + 1));
    MNEME_ASSIGN_OR_RETURN(const int32_t* tiles, Stage(&att_tiles_, tiles_host_.data(), 2 * n_tiles));
    MNEME_RETURN_IF_ERROR(CudaCheck(
        cuda::LaunchVarlenAttention(q16, k16, v16, o16, cu, tiles, n_tiles, static_cast<int>(p.num_heads),
                                    static_cast<int>(p.num_kv_heads), static_cast<int>(p.head_dim), p.scale, stream_),
        "Attention (bf16 varlen)"));
    return CudaCheck(cuda::LaunchFromBf16(o16, p.out, qn, stream_), "Attention out");
  }

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

  // A device copy of small host int32 arrays (token ids, positions, tile tables), in a Scratch
  // buffer. An upload happens only when the contents differ from the last upload: a decode
  // step's 72 RoPE calls share one positions array, so it crosses the bus once. Uploads are
  // stream-ordered behind every kernel that read the previous contents.
  struct StagedInts {
    Scratch dev;
    std::vector<int32_t> last;  // what `dev` holds
  };
  absl::StatusOr<const int32_t*> Stage(StagedInts* slot, const int32_t* host, int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
    if (slot->last.size() != static_cast<size_t>(n) || !std::equal(host, host + n, slot->last.begin())) {
      MNEME_RETURN_IF_ERROR(Grow(&slot->dev, bytes));
      // From pageable memory the driver stages the copy before the call returns, so the caller
      // may reuse `host` at once.
      MNEME_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(slot->dev.ptr, host, bytes, cudaMemcpyHostToDevice, stream_), "staging"));
      slot->last.assign(host, host + n);
    }
    return static_cast<const int32_t*>(slot->dev.ptr);
  }

  const int device_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::CublasLtGemm> gemm_;
  StagedInts positions_, ids_, att_cu_, att_tiles_;
  std::vector<int32_t> tiles_host_;  // the tile table of the boundaries att_cu_ holds
  Scratch att_q16_, att_k16_, att_v16_, att_o16_;  // CausalBlockBf16
  int sms_ = 1;
  Scratch q16_, scores_, topk_ws_, top_;  // RouteTopK
  std::vector<float> top_host_;             // [k scores | k ordinals (bit patterns)]
  Scratch x16_;                                     // MatMul activations in bf16
  Scratch split_;                                   // split-K attention partials
  Scratch sample_;                                  // Sample: probabilities + result
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(int device) {
  return CudaBackend::Create(device);
}

}  // namespace mneme::kernels
