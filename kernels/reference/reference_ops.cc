#include "kernels/reference/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "common/half.h"

namespace mneme::kernels {

void ChunkPoolReference(const ChunkPoolParams& p) {
  const int64_t chunks = (p.rows + p.pool - 1) / p.pool;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * p.pool, end = std::min(p.rows, begin + p.pool);
    float* dst = p.out + c * p.width;
    std::fill(dst, dst + p.width, 0.0f);
    for (int64_t r = begin; r < end; ++r) {
      const float* row = p.x + r * p.width;
      for (int64_t j = 0; j < p.width; ++j) dst[j] += row[j];
    }
    const float inv = 1.0f / static_cast<float>(end - begin);
    for (int64_t j = 0; j < p.width; ++j) dst[j] *= inv;
    if (p.l2_head_dim <= 0) continue;
    for (int64_t at = 0; at < p.width; at += p.l2_head_dim) {
      float ss = 0.0f;
      for (int64_t j = 0; j < p.l2_head_dim; ++j) ss += dst[at + j] * dst[at + j];
      const float scale = ss > 0.0f ? 1.0f / std::sqrt(ss) : 0.0f;
      for (int64_t j = 0; j < p.l2_head_dim; ++j) dst[at + j] *= scale;
    }
  }
}

void AttentionMergeReference(const AttentionMergeParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    float m = -INFINITY;
    for (int64_t s = 0; s < p.parts; ++s) m = std::max(m, p.lses[s * p.rows + r]);
    float* o = p.out + r * p.head_dim;
    std::fill(o, o + p.head_dim, 0.0f);
    if (m == -INFINITY) {
      if (p.lse) p.lse[r] = -INFINITY;
      continue;
    }
    float total = 0.0f;
    for (int64_t s = 0; s < p.parts; ++s) {
      const float l = p.lses[s * p.rows + r];
      if (l == -INFINITY) continue;
      const float w = std::exp(l - m);
      total += w;
      const float* part = p.outs + (s * p.rows + r) * p.head_dim;
      for (int64_t j = 0; j < p.head_dim; ++j) o[j] += w * part[j];
    }
    const float inv = 1.0f / total;
    for (int64_t j = 0; j < p.head_dim; ++j) o[j] *= inv;
    if (p.lse) p.lse[r] = m + std::log(total);
  }
}

void QuantizeReference(const QuantizeParams& p) {
  for (int64_t g = 0; g < p.n / p.group; ++g) {
    p.scales[g] = QuantizeGroup(p.codec, p.x + g * p.group, static_cast<size_t>(p.group),
                                p.codes + g * p.group);
  }
}

void DequantizeReference(const DequantizeParams& p) {
  if (p.type == CodeType::kBf16) {
    const uint16_t* h = static_cast<const uint16_t*>(p.codes);
    for (int64_t i = 0; i < p.n; ++i) p.out[i] = Bf16ToFloat(h[i]);
    return;
  }
  const ByteCodec codec = p.type == CodeType::kInt8 ? ByteCodec::kInt8 : ByteCodec::kFp8;
  const uint8_t* c = static_cast<const uint8_t*>(p.codes);
  for (int64_t i = 0; i < p.n; ++i) p.out[i] = DequantizeCode(codec, c[i], p.scales[i / p.group]);
}

absl::Status PackedAttention(const AttentionParams& p,
                             const std::function<absl::Status(const AttentionParams&)>& one) {
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int64_t begin = p.seq_starts[s], n = p.seq_starts[s + 1] - begin;
    AttentionParams a = p;
    a.num_seqs = 0;
    a.seq_starts = nullptr;
    a.q = p.q + begin * p.num_heads * p.head_dim;
    a.out = p.out + begin * p.num_heads * p.head_dim;
    a.k = p.k + begin * p.num_kv_heads * p.head_dim;
    a.v = p.v + begin * p.num_kv_heads * p.head_dim;
    if (p.lse) a.lse = p.lse + begin * p.num_heads;
    a.q_tokens = a.kv_len = n;
    a.q_offset = 0;
    const absl::Status st = one(a);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> SampleReference(const float* logits, int64_t vocab, double temperature,
                                        double top_p, double uniform, std::vector<double>* scratch) {
  int64_t best = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i])) {
      return absl::InvalidArgumentError(absl::StrFormat("sample: NaN logit at id %d", i));
    }
    if (logits[i] > logits[best]) best = i;
  }
  if (temperature == 0.0 || !std::isfinite(logits[best])) return static_cast<int32_t>(best);
  const double max_logit = logits[best];
  scratch->resize(2 * static_cast<size_t>(vocab));
  const absl::Span<double> p(scratch->data(), static_cast<size_t>(vocab));
  double total = 0.0;
  for (int64_t i = 0; i < vocab; ++i) {
    p[static_cast<size_t>(i)] = std::exp((static_cast<double>(logits[i]) - max_logit) / temperature);
    total += p[static_cast<size_t>(i)];
  }
  // tau: the smallest member of the nucleus, found on a descending copy of the masses.
  double tau = 0.0;
  if (top_p < 1.0) {
    const absl::Span<double> sorted(scratch->data() + vocab, static_cast<size_t>(vocab));
    std::copy(p.begin(), p.end(), sorted.begin());
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    double cum = 0.0;
    for (double v : sorted) {
      cum += v;
      tau = v;
      if (cum >= top_p * total) break;
    }
  }
  double mass = 0.0;
  int64_t last = best;
  for (int64_t i = 0; i < vocab; ++i) {
    if (p[static_cast<size_t>(i)] >= tau) {
      mass += p[static_cast<size_t>(i)];
      last = i;
    }
  }
  const double target = uniform * mass;
  double run = 0.0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (p[static_cast<size_t>(i)] < tau) continue;
    run += p[static_cast<size_t>(i)];
    if (run > target) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);
}

}  // namespace mneme::kernels
