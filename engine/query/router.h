// MSA routing of one layer (docs/msa.md §3): scores every live document against the routing
// queries and keeps the top k.
//
// RouteLayer uses the GQA-summed form: the head mean is linear, so
//   S_c = max_t (1/Hq) Σ_h φ(q[t,h], k[c, h/G]) = max_t q̃[t] · k[c]
// with q̃[t, g] = (1/Hq) Σ_{h in group g} q̂[t, h] (q̂ = q/|q| for cosine, q/sqrt(D) for dot):
// one GEMM over all chunks (Backend::RouteScores) plus the max reductions, no per-head score
// tensor. RouteLayerNaive evaluates the formula literally, for tests.
#ifndef MNEME_ENGINE_QUERY_ROUTER_H_
#define MNEME_ENGINE_QUERY_ROUTER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/query/routing_mirror.h"
#include "kernels/ops.h"
#include "memory/memory_index.h"

namespace mneme::query {

struct RouteShape {
  int64_t heads, kv_heads, head_dim;
  bool cosine;
  int top_k;
};

// The GQA-summed routing queries: q_sum[t, g*D + j] = (1/heads) Σ_{h in group g} scale(q[t,h]) q[t,h,j]
// (scale 1/|q| for cosine, 1/sqrt(D) for dot); what every holder of memory scores against.
// `q` is [t, heads, head_dim] host memory; q_sum is resized to [t, kv_heads * head_dim].
void SumRoutingQueries(const float* q, int64_t t, const RouteShape& shape, std::vector<float>* q_sum);

// Selects up to top_k live documents of the mirror's index for routed-layer `slot`, by descending score,
// ties to the lower ordinal. `q` is [t, heads, head_dim] host memory (routing tokens only); the
// scores are computed on `mirror`'s backend. Returns fewer than top_k when fewer documents are
// live. InvalidArgument for t < 1.
[[nodiscard]] absl::StatusOr<std::vector<ScoredDoc>> RouteLayer(RoutingMirror* mirror, int slot,
                                                                const float* q, int64_t t,
                                                                const RouteShape& shape);

// The literal formula (per head, per token, per chunk), O(t * heads * chunks * head_dim).
std::vector<ScoredDoc> RouteLayerNaive(const memory::MemoryIndex& index, int slot, const float* q,
                                       int64_t t, const RouteShape& shape);

// The top k of doc_scores over live documents, descending, ties to the lower ordinal.
std::vector<ScoredDoc> TopKDocuments(const memory::MemoryIndex& index,
                                     const std::vector<float>& doc_scores, int top_k);

}  // namespace mneme::query

#endif  // MNEME_ENGINE_QUERY_ROUTER_H_
