#include "engine/query/router.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace mneme::query {
namespace {

// Per-head similarity normalisation: 1/|q| (cosine; keys are stored normalised) or 1/sqrt(D).
float HeadScale(const float* q, int64_t d, bool cosine) {
  if (!cosine) return 1.0f / std::sqrt(static_cast<float>(d));
  float ss = 0.0f;
  for (int64_t i = 0; i < d; ++i) ss += q[i] * q[i];
  return ss > 0.0f ? 1.0f / std::sqrt(ss) : 0.0f;
}

bool Better(const ScoredDoc& a, const ScoredDoc& b) {
  return a.score != b.score ? a.score > b.score : a.ordinal < b.ordinal;
}

}  // namespace

std::vector<ScoredDoc> TopKDocuments(const memory::MemoryIndex& index,
                                     const std::vector<float>& doc_scores, int top_k) {
  std::vector<ScoredDoc> all;
  all.reserve(static_cast<size_t>(index.live_documents()));
  for (int64_t d = 0; d < index.num_documents(); ++d) {
    if (index.IsLive(d)) all.push_back({d, doc_scores[static_cast<size_t>(d)]});
  }
  const size_t k = std::min(all.size(), static_cast<size_t>(std::max(top_k, 0)));
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(k), all.end(), Better);
  all.resize(k);
  return all;
}

void SumRoutingQueries(const float* q, int64_t t, const RouteShape& shape, std::vector<float>* q_sum) {
  const int64_t group = shape.heads / shape.kv_heads, d = shape.head_dim;
  const int64_t width = shape.kv_heads * d;
  q_sum->assign(static_cast<size_t>(t * width), 0.0f);
  const float mean = 1.0f / static_cast<float>(shape.heads);
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      const float* qh = q + (i * shape.heads + h) * d;
      const float scale = HeadScale(qh, d, shape.cosine) * mean;
      float* dst = q_sum->data() + i * width + (h / group) * d;
      for (int64_t j = 0; j < d; ++j) dst[j] += scale * qh[j];
    }
  }
}

absl::StatusOr<std::vector<ScoredDoc>> RouteLayer(RoutingMirror* mirror, int slot, const float* q,
                                                  int64_t t, const RouteShape& shape) {
  if (t < 1) return absl::InvalidArgumentError("routing needs at least one routing token");
  if (shape.kv_heads * shape.head_dim != mirror->index().kv_width()) {
    return absl::InvalidArgumentError("routing shape does not match the memory's kv width");
  }
  std::vector<float> q_sum;
  SumRoutingQueries(q, t, shape, &q_sum);
  return mirror->Select(slot, q_sum.data(), t, shape.top_k);
}

std::vector<ScoredDoc> RouteLayerNaive(const memory::MemoryIndex& index, int slot, const float* q,
                                       int64_t t, const RouteShape& shape) {
  const int64_t group = shape.heads / shape.kv_heads, d = shape.head_dim;
  const int64_t width = shape.kv_heads * d;
  std::vector<float> doc_scores(static_cast<size_t>(index.num_documents()), -INFINITY);
  const float* keys = index.routing_keys(slot);
  for (int64_t c = 0; c < index.total_chunks(); ++c) {
    float chunk_score = -INFINITY;
    for (int64_t i = 0; i < t; ++i) {
      double head_sum = 0.0;
      for (int64_t h = 0; h < shape.heads; ++h) {
        const float* qh = q + (i * shape.heads + h) * d;
        const float* kc = keys + c * width + (h / group) * d;
        double dot = 0.0, qq = 0.0;
        for (int64_t j = 0; j < d; ++j) {
          dot += double(qh[j]) * kc[j];
          qq += double(qh[j]) * qh[j];
        }
        head_sum += shape.cosine ? (qq > 0 ? dot / std::sqrt(qq) : 0.0) : dot / std::sqrt(double(d));
      }
      chunk_score = std::max(chunk_score, static_cast<float>(head_sum / shape.heads));
    }
    float& s = doc_scores[static_cast<size_t>(index.chunk_doc()[c])];
    s = std::max(s, chunk_score);
  }
  return TopKDocuments(index, doc_scores, shape.top_k);
}

}  // namespace mneme::query
