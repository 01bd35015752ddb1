#include "kernels/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "common/status.h"
#include "kernels/reference/reference_ops.h"

namespace mneme::kernels {
namespace {

class HostMemory final : public DeviceMemory {
 public:
  HostMemory(void* p, size_t n) : p_(p), n_(n) {}
  ~HostMemory() override { std::free(p_); }
  void* data() override { return p_; }
  size_t size_bytes() const override { return n_; }

 private:
  void* p_;
  size_t n_;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend() : max_threads_(openblas_get_num_threads()), threads_(max_threads_) {}

  std::string name() const override { return "cpu"; }
  bool host_addressable() const override { return true; }

  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) override {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) {
      return absl::ResourceExhaustedError(absl::StrFormat("cpu: cannot allocate %d bytes", bytes));
    }
    return std::unique_ptr<DeviceMemory>(new HostMemory(p, bytes));
  }
  absl::StatusOr<std::unique_ptr<DeviceMemory>> AllocateHost(size_t bytes) override { return Allocate(bytes); }
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override {
    return CopyToDevice(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes) override {
    std::memmove(dst, src, bytes);
    return absl::OkStatus();
  }
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::Status MatMul(const MatMulParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    if (p.w_type != DType::kF32) return absl::UnimplementedError("cpu MatMul: fp32 weights only");
    const float* w = static_cast<const float*>(p.w);
    const int64_t ldy = p.ldy == 0 ? p.n : p.ldy;
    // A GEMV is bound by reading w: worth several threads from ~1 MB of weights.
    SetThreads(p.m == 1 ? p.n * p.k * 16 : p.m * p.n * p.k);
    if (p.m == 1) {  // decode: a GEMV streams the weights once, faster than a 1-row GEMM
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(p.n),
                  static_cast<blasint>(p.k), 1.0f, w, static_cast<blasint>(p.k), p.x, 1,
                  p.accumulate ? 1.0f : 0.0f, p.y, 1);
      return absl::OkStatus();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(p.m),
                static_cast<blasint>(p.n), static_cast<blasint>(p.k), 1.0f, p.x,
                static_cast<blasint>(p.k), w, static_cast<blasint>(p.k),
                p.accumulate ? 1.0f : 0.0f, p.y, static_cast<blasint>(ldy));
    return absl::OkStatus();
  }

  absl::Status RmsNorm(const RmsNormParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* x = p.x + r * p.dim;
      float* y = p.y + r * p.dim;
      float ss = 0.0f;
      for (int64_t i = 0; i < p.dim; ++i) ss += x[i] * x[i];
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(p.dim) + p.eps);
      for (int64_t i = 0; i < p.dim; ++i) y[i] = p.weight[i] * (x[i] * inv);
    }
    return absl::OkStatus();
  }

  absl::Status Rope(const RopeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    const int64_t half = p.head_dim / 2;
    // inv_freq as HF computes it: fp32 of theta^(-2i/D).
    std::vector<float> inv_freq(half), cos_t(half), sin_t(half);
    for (int64_t i = 0; i < half; ++i) {
      inv_freq[i] = static_cast<float>(
          1.0 / std::pow(p.theta, static_cast<double>(2 * i) / static_cast<double>(p.head_dim)));
    }
    for (int64_t t = 0; t < p.tokens; ++t) {
      const float pos = static_cast<float>(p.positions[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float a = pos * inv_freq[i];
        cos_t[i] = std::cos(a);
        sin_t[i] = std::sin(a);
      }
      for (int64_t h = 0; h < p.heads; ++h) {
        float* v = p.x + (t * p.heads + h) * p.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * cos_t[i] - b * sin_t[i];
          v[i + half] = b * cos_t[i] + a * sin_t[i];
        }
      }
    }
    return absl::OkStatus();
  }

  // Per query head: S = scale * Q_h K_g^T and O_h = softmax(S) V_g as two GEMMs over strided
  // rows (tokens are rows, heads columns), with the causal mask applied to S in between. Scratch
  // S is [q_tokens, kv_len], grown once and reused.
  absl::Status Attention(const AttentionParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    if (p.num_seqs > 0) return PackedAttention(p, [this](const AttentionParams& one) { return Attention(one); });
    const int64_t group = p.num_heads / p.num_kv_heads;
    const int64_t d = p.head_dim;
    const blasint q_ld = static_cast<blasint>(p.num_heads * d);
    const blasint kv_ld = static_cast<blasint>(p.num_kv_heads * d);
    scores_.resize(static_cast<size_t>(p.q_tokens * p.kv_len));
    SetThreads(p.q_tokens * p.kv_len * d);
    for (int64_t h = 0; h < p.num_heads; ++h) {
      const int64_t g = h / group;
      float* s = scores_.data();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(p.q_tokens),
                  static_cast<blasint>(p.kv_len), static_cast<blasint>(d), p.scale, p.q + h * d,
                  q_ld, p.k + g * d, kv_ld, 0.0f, s, static_cast<blasint>(p.kv_len));
      for (int64_t t = 0; t < p.q_tokens; ++t) {
        float* row = s + t * p.kv_len;
        const int64_t visible = p.causal ? p.q_offset + t + 1 : p.q_offset + p.q_tokens;
        float max_s = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) max_s = std::max(max_s, row[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < visible; ++j) {
          row[j] = std::exp(row[j] - max_s);
          sum += row[j];
        }
        const float inv_sum = 1.0f / sum;
        for (int64_t j = 0; j < visible; ++j) row[j] *= inv_sum;
        if (p.lse) p.lse[t * p.num_heads + h] = max_s + std::log(sum);
        std::fill(row + visible, row + p.kv_len, 0.0f);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(p.q_tokens),
                  static_cast<blasint>(d), static_cast<blasint>(p.kv_len), 1.0f, s,
                  static_cast<blasint>(p.kv_len), p.v + g * d, kv_ld, 0.0f, p.out + h * d, q_ld);
    }
    return absl::OkStatus();
  }

  absl::Status SwiGlu(const SwiGluParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    for (int64_t t = 0; t < p.tokens; ++t) {
      const float* gate = p.gate_up + t * 2 * p.inter;
      const float* up = gate + p.inter;
      float* o = p.out + t * p.inter;
      for (int64_t i = 0; i < p.inter; ++i) {
        const float g = gate[i];
        o[i] = g / (1.0f + std::exp(-g)) * up[i];
      }
    }
    return absl::OkStatus();
  }

  absl::Status Embedding(const EmbeddingParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    for (int64_t t = 0; t < p.tokens; ++t) {
      std::memcpy(p.out + t * p.dim, p.table + static_cast<int64_t>(p.ids[t]) * p.dim,
                  static_cast<size_t>(p.dim) * sizeof(float));
    }
    return absl::OkStatus();
  }

  // The reference for RouteTopK: bf16-rounded q, bf16 keys decoded, the dot in fp32 one chunk at
  // a time, per-document max, then a partial sort with the tie rule.
  absl::Status RouteTopK(const RouteTopKParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    std::vector<float> q(static_cast<size_t>(p.q_tokens * p.width)), key(static_cast<size_t>(p.width));
    for (size_t i = 0; i < q.size(); ++i) q[i] = Bf16ToFloat(FloatToBf16(p.q[i]));
    std::vector<float> doc(static_cast<size_t>(p.num_docs), -INFINITY);
    for (int64_t c = 0; c < p.chunks; ++c) {
      const uint16_t* kc = p.keys + c * p.width;
      for (int64_t i = 0; i < p.width; ++i) key[static_cast<size_t>(i)] = Bf16ToFloat(kc[i]);
      float best = -INFINITY;
      for (int64_t t = 0; t < p.q_tokens; ++t) {
        const float* qt = q.data() + t * p.width;
        float dot = 0.0f;
        for (int64_t i = 0; i < p.width; ++i) dot += qt[i] * key[static_cast<size_t>(i)];
        best = std::max(best, dot);
      }
      float& d = doc[static_cast<size_t>(p.chunk_doc[c])];
      d = std::max(d, best);
    }
    std::vector<int32_t> order;
    for (int64_t d = 0; d < p.num_docs; ++d) {
      if ((p.dead == nullptr || p.dead[d] == 0) && doc[static_cast<size_t>(d)] != -INFINITY) {
        order.push_back(static_cast<int32_t>(d));
      }
    }
    const size_t k = std::min(order.size(), static_cast<size_t>(p.top_k));
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                      [&](int32_t a, int32_t b) {
                        const float sa = doc[static_cast<size_t>(a)], sb = doc[static_cast<size_t>(b)];
                        return sa != sb ? sa > sb : a < b;
                      });
    for (size_t i = 0; i < k; ++i) {
      p.out_docs[i] = order[i];
      p.out_scores[i] = doc[static_cast<size_t>(order[i])];
    }
    *p.selected = static_cast<int>(k);
    return absl::OkStatus();
  }

  absl::Status RouteScores(const RouteScoresParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    std::fill(p.doc_scores, p.doc_scores + p.num_docs, -INFINITY);
    // Tiles of kTile chunks: one GEMM keys_tile [n x width] . q^T -> [n x q_tokens], so each
    // chunk's scores are contiguous for the max over tokens; then the per-document max. Scratch
    // stays kTile x q_tokens whatever the memory size.
    constexpr int64_t kTile = 16384;
    route_scratch_.resize(static_cast<size_t>(p.q_tokens * std::min(kTile, std::max<int64_t>(p.chunks, 1))));
    SetThreads(p.q_tokens * std::min(p.chunks, kTile) * p.width);
    const int64_t t_n = p.q_tokens;
    for (int64_t c0 = 0; c0 < p.chunks; c0 += kTile) {
      const int64_t n = std::min(kTile, p.chunks - c0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n),
                  static_cast<blasint>(t_n), static_cast<blasint>(p.width), 1.0f,
                  p.keys + c0 * p.width, static_cast<blasint>(p.width), p.q,
                  static_cast<blasint>(p.width), 0.0f, route_scratch_.data(),
                  static_cast<blasint>(t_n));
      const int32_t* owner = p.chunk_doc + c0;
      for (int64_t c = 0; c < n; ++c) {
        const float* row = route_scratch_.data() + c * t_n;
        float best = row[0];
        for (int64_t t = 1; t < t_n; ++t) best = std::max(best, row[t]);
        float& doc = p.doc_scores[owner[c]];
        doc = std::max(doc, best);
      }
    }
    return absl::OkStatus();
  }

  absl::Status AttentionMerge(const AttentionMergeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    AttentionMergeReference(p);
    return absl::OkStatus();
  }
  absl::Status ChunkPool(const ChunkPoolParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    ChunkPoolReference(p);
    return absl::OkStatus();
  }
  absl::Status Quantize(const QuantizeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    QuantizeReference(p);
    return absl::OkStatus();
  }
  absl::Status Dequantize(const DequantizeParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    DequantizeReference(p);
    return absl::OkStatus();
  }
  absl::Status Sample(const SampleParams& p) override {
    MNEME_RETURN_IF_ERROR(Validate(p));
    MNEME_ASSIGN_OR_RETURN(*p.token, SampleReference(p.logits, p.vocab, p.temperature, p.top_p, p.uniform, &sample_scratch_));
    return absl::OkStatus();
  }

 private:
  // OpenBLAS threads spin between calls and steal the cores from the loops in between; below
  // ~4 MFLOP a single thread is faster anyway. Returns the thread count in force.
  int SetThreads(int64_t flops) {
    const int want = flops >= (int64_t{1} << 22) ? max_threads_ : 1;
    if (want != threads_) {
      openblas_set_num_threads(want);
      threads_ = want;
    }
    return threads_;
  }

  const int max_threads_;
  int threads_;
  std::vector<float> scores_;        // attention scratch [q_tokens, kv_len], grown as needed
  std::vector<float> route_scratch_;  // [tile, q_tokens] routing scores
  std::vector<double> sample_scratch_;  // Sample's probabilities, grown once
};

}  // namespace

std::unique_ptr<Backend> NewCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace mneme::kernels
