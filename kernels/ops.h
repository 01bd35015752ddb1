// The numeric op interface. `engine/` computes only through a Backend, so a CUDA backend can
// replace the CPU reference without touching the engine.
//
// Conventions (every op):
//   * Pointers are in the backend's memory space (host memory for `cpu`, device memory for
//     `cuda`); they come from Backend::Allocate. Activations are fp32 row-major.
//   * Shapes are given in the Params structs and documented beside each field.
//   * An op validates its Params (CanImplement) and returns InvalidArgument for bad shapes or
//     null pointers and Unimplemented for configurations the backend lacks; it never aborts.
//   * Ops may run asynchronously on the backend's stream; Synchronize() surfaces async faults.
//   * A Backend is not thread-safe: one thread drives it at a time.
#ifndef MNEME_KERNELS_OPS_H_
#define MNEME_KERNELS_OPS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/quantize.h"

namespace mneme::kernels {

// Memory owned by a backend; freed on destruction.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual void* data() = 0;
  virtual size_t size_bytes() const = 0;
  float* f32() { return static_cast<float*>(data()); }
  int32_t* i32() { return static_cast<int32_t*>(data()); }
};

// Element type of a stored tensor (weights; activations are fp32 at this interface).
enum class DType { kF32, kBf16 };

// y[m, n] = x[m, k] · w[n, k]^T (+ y if accumulate). w is in the Hugging Face Linear layout
// [out_features, in_features], stored as w_type: fp32, or bf16 where the backend supports it
// (supports_bf16_weights()), in which case x is rounded to bf16 for the product and the
// accumulation stays fp32 (what a bf16 model does on a GPU). ldy is y's row stride in elements
// (>= n; 0 means n).
struct MatMulParams {
  const float* x = nullptr;
  const void* w = nullptr;
  float* y = nullptr;
  int64_t m = 0, n = 0, k = 0;
  int64_t ldy = 0;
  bool accumulate = false;
  DType w_type = DType::kF32;
};

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:] for each of `rows` rows of `dim`.
// In place (x == y) is allowed. Used for the hidden-state norms and, with rows = tokens * heads
// and dim = head_dim, for Qwen3's per-head QK norm.
struct RmsNormParams {
  const float* x = nullptr;
  const float* weight = nullptr;  // [dim]
  float* y = nullptr;
  int64_t rows = 0, dim = 0;
  float eps = 1e-6f;
};

// In-place rotary embedding, rotate-half form (as HF Qwen3): for head vector v of head_dim D,
// i in [0, D/2): a = pos * theta^(-2i/D); (v[i], v[i+D/2]) <- (v[i] cos a - v[i+D/2] sin a,
// v[i+D/2] cos a + v[i] sin a).
struct RopeParams {
  float* x = nullptr;                // [tokens, heads, head_dim]
  const int32_t* positions = nullptr;  // [tokens], host memory
  int64_t tokens = 0, heads = 0, head_dim = 0;
  double theta = 10000.0;
};

// GQA attention of `q_tokens` queries over a contiguous KV sequence:
//   out[t, h, :] = softmax_j(scale * q[t, h, :] · k[j, g, :]) · v[j, g, :],
//   g = h / (num_heads / num_kv_heads), j in [0, q_offset + t] when causal (bottom-right
//   aligned), j in [0, q_offset + q_tokens) otherwise (the new tokens see each other fully:
//   MSA's reference-exact injection). q_offset + q_tokens <= kv_len. Softmax in fp32 with max
//   subtraction.
struct AttentionParams {
  const float* q = nullptr;  // [q_tokens, num_heads, head_dim]
  const float* k = nullptr;  // [kv_len, num_kv_heads, head_dim]
  const float* v = nullptr;  // [kv_len, num_kv_heads, head_dim]
  float* out = nullptr;      // [q_tokens, num_heads, head_dim]
  int64_t q_tokens = 0, kv_len = 0, q_offset = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float scale = 0.0f;
  bool causal = true;
  // Permission, not a requirement: the caller (a model with bf16 weights) accepts q, k, v and
  // the probabilities rounded to bf16, so a backend may use a bf16 tensor-core kernel.
  bool allow_bf16 = false;
  // Optional packing (document encoding, several documents per forward): with num_seqs > 0 the
  // rows hold num_seqs independent sequences, sequence s owning rows [seq_starts[s],
  // seq_starts[s + 1]) of q, k, v and out, each attending causally to its own rows only.
  // seq_starts is host memory of num_seqs + 1 increasing entries from 0 to q_tokens. Requires
  // causal, q_offset == 0 and kv_len == q_tokens.
  const int32_t* seq_starts = nullptr;
  int64_t num_seqs = 0;
  // Optional [q_tokens, num_heads]: the natural log of each row's softmax denominator,
  // log sum_j exp(scale * q . k_j) over its visible keys, so partial attentions over disjoint
  // key sets can be merged exactly (AttentionMerge).
  float* lse = nullptr;
};

// The exact merge of attentions over disjoint key sets (split-K decode; IDSA partial outputs
// from several ranks). For each of `rows` (token, head) rows:
//   L = log sum_p exp(lses[p, r]),  out[r, :] = sum_p exp(lses[p, r] - L) * outs[p, r, :]
// and lse[r] = L when lse is given. A part with lse = -inf (it saw no key) contributes nothing;
// a row whose parts are all -inf gets out = 0 and L = -inf. All arrays are backend memory.
struct AttentionMergeParams {
  const float* outs = nullptr;  // [parts, rows, head_dim]
  const float* lses = nullptr;  // [parts, rows]
  float* out = nullptr;         // [rows, head_dim]
  float* lse = nullptr;         // [rows], may be null
  int64_t parts = 0, rows = 0, head_dim = 0;
};

// Chunk mean pooling, MSA's memory compression (docs/msa.md §1): rows x [rows, width] in chunks
// of `pool` consecutive rows, the last one partial:
//   out[c, :] = (fp32 sum of the chunk's rows, in row order) * (1 / row count)
// then, when l2_head_dim > 0, every l2_head_dim-wide slice of out[c, :] is divided by its L2
// norm (an all-zero slice stays zero): the cosine-routing keys. x and out are backend memory.
struct ChunkPoolParams {
  const float* x = nullptr;  // [rows, width]
  float* out = nullptr;      // [ceil(rows / pool), width]
  int64_t rows = 0, width = 0, pool = 0;
  int64_t l2_head_dim = 0;  // 0, or a divisor of width
};

// One-byte group quantisation (common/quantize.h, the segment codec's int8/fp8 formats): x is
// n values in groups of `group` consecutive values (n % group == 0); group g gets scales[g] and
// codes [g * group, (g + 1) * group). x, codes and scales are backend memory.
struct QuantizeParams {
  const float* x = nullptr;   // [n]
  uint8_t* codes = nullptr;   // [n]
  float* scales = nullptr;    // [n / group]
  int64_t n = 0, group = 0;
  ByteCodec codec = ByteCodec::kInt8;
};

// What Dequantize reads: bf16 bit patterns (2 bytes per value, no scales) or one-byte codes
// with per-group scales.
enum class CodeType { kBf16, kInt8, kFp8 };

// out[i] = value of codes[i] (bf16: exact widening; int8/fp8: DequantizeCode with
// scales[i / group]). codes, scales and out are backend memory; scales unused for bf16.
struct DequantizeParams {
  const void* codes = nullptr;  // [n] bf16 (uint16) or bytes
  const float* scales = nullptr;  // [n / group] for int8/fp8
  float* out = nullptr;           // [n]
  int64_t n = 0, group = 0;       // group: int8/fp8 only, divides n
  CodeType type = CodeType::kBf16;
};

// Next-token choice from one row of logits (backend memory), the contract of
// engine/model/sampler.h, identical on every backend up to floating-point rounding:
//   temperature == 0, or a largest logit of +-inf: the argmax, lowest id on ties (exact on
//   every backend).
//   otherwise p_i = exp((l_i - max_j l_j) / temperature); the nucleus N = {i : p_i >= tau} with
//   tau the largest value for which the mass of N reaches top_p * sum_i p_i; the token is the
//   first i of N, in id order, whose running mass over N exceeds uniform * mass(N) (the last
//   member of N when rounding leaves none).
// uniform in [0, 1) comes from the caller's seeded generator. *token is host memory.
// InvalidArgument for NaN logits.
struct SampleParams {
  const float* logits = nullptr;  // [vocab]
  int64_t vocab = 0;
  double temperature = 0.0;  // >= 0
  double top_p = 1.0;        // (0, 1]
  double uniform = 0.0;      // [0, 1)
  int32_t* token = nullptr;  // host
};

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i], gate_up [tokens, 2 * inter]
// (gate and up projections fused into one GEMM), out [tokens, inter].
struct SwiGluParams {
  const float* gate_up = nullptr;
  float* out = nullptr;
  int64_t tokens = 0, inter = 0;
};

// out[t, :] = table[ids[t], :]; ids in host memory, each in [0, vocab).
struct EmbeddingParams {
  const float* table = nullptr;  // [vocab, dim]
  const int32_t* ids = nullptr;  // [tokens], host memory
  float* out = nullptr;          // [tokens, dim]
  int64_t tokens = 0, vocab = 0, dim = 0;
};

// MSA routing scores (the GQA-summed form of MSA-SPEC §2):
//   doc_scores[d] = max over t < q_tokens and chunks c with chunk_doc[c] == d of q[t, :] · keys[c, :]
// q holds the head-group-summed (and scaled) routing queries, keys the pooled routing keys with
// the KV heads concatenated (width = num_kv_heads * head_dim). Documents with no chunk score
// -inf. No [tokens x chunks] matrix is kept beyond one tile. All four arrays are backend memory;
// the caller guarantees every chunk_doc entry lies in [0, num_docs) (MemoryIndex does), since a
// device array cannot be checked from the host without a copy.
struct RouteScoresParams {
  const float* q = nullptr;            // [q_tokens, width]
  const float* keys = nullptr;         // [chunks, width]
  const int32_t* chunk_doc = nullptr;  // [chunks], each in [0, num_docs)
  float* doc_scores = nullptr;         // [num_docs]
  int64_t q_tokens = 0, chunks = 0, width = 0, num_docs = 0;
};

// Routing with the selection fused, over bf16 routing keys (the path that scales: keys stay
// resident at 2 bytes per element and only the top k leave the device). Per document d:
//   score[d] = max over t < q_tokens and chunks c of d of bf16(q[t, :]) · keys[c, :]
// with q rounded to bf16 (as the reference's bf16 matmul does) and fp32 accumulation; then the
// top_k documents by score, ties to the lower document, skipping documents flagged in `dead`
// and documents without chunks. q, keys, chunk_doc and dead are backend memory; keys holds bf16
// bit patterns; dead may be null. out_docs/out_scores are host memory of top_k entries;
// *selected receives how many were filled (fewer than top_k when fewer documents qualify).
struct RouteTopKParams {
  const float* q = nullptr;            // [q_tokens, width]
  const uint16_t* keys = nullptr;      // [chunks, width] bf16
  const int32_t* chunk_doc = nullptr;  // [chunks], each in [0, num_docs)
  const uint8_t* dead = nullptr;       // [num_docs] nonzero: never selected; may be null
  int64_t q_tokens = 0, chunks = 0, width = 0, num_docs = 0;
  int top_k = 0;
  int32_t* out_docs = nullptr;  // [top_k], host
  float* out_scores = nullptr;  // [top_k], host
  int* selected = nullptr;      // host
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // True when backend memory is ordinary host memory (cpu): callers may then pass host arrays
  // straight to ops instead of mirroring them into backend memory.
  virtual bool host_addressable() const = 0;
  // The backend's CUDA stream (cudaStream_t) for libraries that queue work on it (NCCL); null on
  // backends without one.
  virtual void* native_stream() const { return nullptr; }
  // True when MatMul accepts bf16 weights (MatMulParams::w_type).
  virtual bool supports_bf16_weights() const { return false; }

  // Allocates `bytes` (64-byte aligned). ResourceExhausted when memory runs out.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) = 0;
  // Host memory the backend copies from fastest (page-locked on cuda), for staging uploads.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<DeviceMemory>> AllocateHost(size_t bytes) = 0;
  // Copies between host memory and backend memory (blocking).
  [[nodiscard]] virtual absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) = 0;
  // A stream-ordered upload that may return before the bytes have moved: `src` must come from
  // AllocateHost and stay unchanged until the next Synchronize().
  [[nodiscard]] virtual absl::Status CopyToDeviceAsync(void* dst, const void* src, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status CopyToHost(void* dst, const void* src, size_t bytes) = 0;
  // Copies within backend memory (stream-ordered; no host synchronisation needed).
  [[nodiscard]] virtual absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes) = 0;
  [[nodiscard]] virtual absl::Status Synchronize() = 0;

  [[nodiscard]] virtual absl::Status MatMul(const MatMulParams& p) = 0;
  [[nodiscard]] virtual absl::Status RmsNorm(const RmsNormParams& p) = 0;
  [[nodiscard]] virtual absl::Status Rope(const RopeParams& p) = 0;
  [[nodiscard]] virtual absl::Status Attention(const AttentionParams& p) = 0;
  [[nodiscard]] virtual absl::Status SwiGlu(const SwiGluParams& p) = 0;
  [[nodiscard]] virtual absl::Status Embedding(const EmbeddingParams& p) = 0;
  [[nodiscard]] virtual absl::Status RouteScores(const RouteScoresParams& p) = 0;
  // Unimplemented where the backend lacks a kernel for the shape (cuda: width must be a
  // multiple of 64 in [64, 1024]); callers then use RouteScores.
  [[nodiscard]] virtual absl::Status RouteTopK(const RouteTopKParams& p) = 0;
  [[nodiscard]] virtual absl::Status AttentionMerge(const AttentionMergeParams& p) = 0;
  [[nodiscard]] virtual absl::Status ChunkPool(const ChunkPoolParams& p) = 0;
  [[nodiscard]] virtual absl::Status Quantize(const QuantizeParams& p) = 0;
  [[nodiscard]] virtual absl::Status Dequantize(const DequantizeParams& p) = 0;
  [[nodiscard]] virtual absl::Status Sample(const SampleParams& p) = 0;
};

// Shape/pointer checks shared by every backend (the CUTLASS-style CanImplement step).
[[nodiscard]] absl::Status Validate(const MatMulParams& p);
[[nodiscard]] absl::Status Validate(const RmsNormParams& p);
[[nodiscard]] absl::Status Validate(const RopeParams& p);
[[nodiscard]] absl::Status Validate(const AttentionParams& p);
[[nodiscard]] absl::Status Validate(const SwiGluParams& p);
[[nodiscard]] absl::Status Validate(const EmbeddingParams& p);
[[nodiscard]] absl::Status Validate(const RouteScoresParams& p);
[[nodiscard]] absl::Status Validate(const RouteTopKParams& p);
[[nodiscard]] absl::Status Validate(const AttentionMergeParams& p);
[[nodiscard]] absl::Status Validate(const ChunkPoolParams& p);
[[nodiscard]] absl::Status Validate(const QuantizeParams& p);
[[nodiscard]] absl::Status Validate(const DequantizeParams& p);
[[nodiscard]] absl::Status Validate(const SampleParams& p);

enum class BackendKind { kCpu, kCuda, kAuto };

// Parses "cpu" | "cuda" | "auto".
[[nodiscard]] absl::StatusOr<BackendKind> ParseBackendKind(const std::string& s);

// Precision of the model's projection weights: kAuto = bf16 where the backend supports bf16
// weights (the GPU), fp32 elsewhere; kFp32 everywhere exact fp32 (what the parity fixtures
// check); kBf16 insists (an error on a backend without bf16 weights).
enum class Precision { kAuto, kFp32, kBf16 };
// Parses "auto" | "fp32" | "bf16".
[[nodiscard]] absl::StatusOr<Precision> ParsePrecision(const std::string& s);
// Whether a model loaded on `backend` with `precision` keeps bf16 weights.
bool UsesBf16Weights(Precision precision, const Backend& backend);

// True when this build has CUDA and a CUDA device is visible; otherwise false, with `*why`
// saying which is missing. (Tests use it to skip GPU cases, loudly, only where no GPU exists.)
bool CudaAvailable(std::string* why);

// Grow-only scratch: makes *mem hold at least `bytes` of backend memory (page-locked host memory
// with host = true), growing geometrically (at least doubling, 4 KiB minimum); the old contents
// are discarded. REQUIRES: no queued work still reads or writes the old buffer.
[[nodiscard]] absl::Status EnsureBuffer(Backend* backend, std::unique_ptr<DeviceMemory>* mem, size_t bytes,
                                        bool host = false);

// The CUDA device this process uses: under an MPI launcher, one per local rank
// (local rank mod the visible devices: OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or
// MPI_LOCALRANKID), else device 0; -1 without CUDA or a device.
int CudaDeviceForThisProcess();

// What tells this process's device apart from another process's on the same host: "gpu@<PCI bus
// id>" for CUDA device `device` (the same physical GPU gives the same string whichever ordinal
// CUDA_VISIBLE_DEVICES gives it), "cpu" for device < 0 or a build without CUDA.
std::string DeviceIdentity(int device);

// Creates a backend. kAuto picks CUDA when it is compiled in and a GPU is present, else CPU.
// kCuda without a usable GPU: Unavailable (not compiled in: Unimplemented).
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind);

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_OPS_H_
