#include <cmath>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "kernels/ops.h"

namespace mneme::kernels {
namespace {

absl::Status Bad(const char* op, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", op, what));
}

}  // namespace

absl::Status Validate(const MatMulParams& p) {
  if (!p.x || !p.w || !p.y) return Bad("MatMul", "null pointer");
  if (p.m <= 0 || p.n <= 0 || p.k <= 0) {
    return Bad("MatMul", absl::StrFormat("bad shape m=%d n=%d k=%d", p.m, p.n, p.k));
  }
  if (p.ldy != 0 && p.ldy < p.n) return Bad("MatMul", absl::StrFormat("ldy %d < n %d", p.ldy, p.n));
  return absl::OkStatus();
}

absl::Status Validate(const RmsNormParams& p) {
  if (!p.x || !p.weight || !p.y) return Bad("RmsNorm", "null pointer");
  if (p.rows <= 0 || p.dim <= 0) return Bad("RmsNorm", "rows and dim must be positive");
  if (!(p.eps >= 0.0f)) return Bad("RmsNorm", "eps must be >= 0");
  return absl::OkStatus();
}

absl::Status Validate(const RopeParams& p) {
  if (!p.x || !p.positions) return Bad("Rope", "null pointer");
  if (p.tokens <= 0 || p.heads <= 0 || p.head_dim <= 0 || p.head_dim % 2 != 0) {
    return Bad("Rope", absl::StrFormat("bad shape tokens=%d heads=%d head_dim=%d (must be even)",
                                       p.tokens, p.heads, p.head_dim));
  }
  if (!(p.theta > 0.0)) return Bad("Rope", "theta must be positive");
  return absl::OkStatus();
}

absl::Status Validate(const AttentionParams& p) {
  if (!p.q || !p.k || !p.v || !p.out) return Bad("Attention", "null pointer");
  if (p.q_tokens <= 0 || p.kv_len <= 0 || p.num_heads <= 0 || p.num_kv_heads <= 0 ||
      p.head_dim <= 0) {
    return Bad("Attention", "sizes must be positive");
  }
  if (p.num_heads % p.num_kv_heads != 0) {
    return Bad("Attention", absl::StrFormat("num_heads %d not a multiple of num_kv_heads %d",
                                            p.num_heads, p.num_kv_heads));
  }
  if (p.q_offset < 0 || p.q_offset + p.q_tokens > p.kv_len) {
    return Bad("Attention", absl::StrFormat("q_offset %d + q_tokens %d exceeds kv_len %d",
                                            p.q_offset, p.q_tokens, p.kv_len));
  }
  if (p.num_seqs < 0) return Bad("Attention", "negative num_seqs");
  if (p.num_seqs > 0) {
    if (!p.seq_starts) return Bad("Attention", "num_seqs without seq_starts");
    if (!p.causal || p.q_offset != 0 || p.kv_len != p.q_tokens) {
      return Bad("Attention", "packed sequences need causal attention with q_offset 0 and kv_len == q_tokens");
    }
    if (p.seq_starts[0] != 0 || p.seq_starts[p.num_seqs] != p.q_tokens) {
      return Bad("Attention", absl::StrFormat("seq_starts must run from 0 to q_tokens %d", p.q_tokens));
    }
    for (int64_t s = 0; s < p.num_seqs; ++s) {
      if (p.seq_starts[s + 1] <= p.seq_starts[s]) {
        return Bad("Attention", absl::StrFormat("sequence %d is empty or seq_starts decrease", s));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const SwiGluParams& p) {
  if (!p.gate_up || !p.out) return Bad("SwiGlu", "null pointer");
  if (p.tokens <= 0 || p.inter <= 0) return Bad("SwiGlu", "sizes must be positive");
  return absl::OkStatus();
}

absl::Status Validate(const EmbeddingParams& p) {
  if (!p.table || !p.ids || !p.out) return Bad("Embedding", "null pointer");
  if (p.tokens <= 0 || p.vocab <= 0 || p.dim <= 0) return Bad("Embedding", "sizes must be positive");
  for (int64_t t = 0; t < p.tokens; ++t) {
    if (p.ids[t] < 0 || p.ids[t] >= p.vocab) {
      return Bad("Embedding", absl::StrFormat("token id %d at position %d outside vocabulary [0, %d)",
                                              p.ids[t], t, p.vocab));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const RouteScoresParams& p) {
  if (!p.q || !p.keys || !p.chunk_doc || !p.doc_scores) return Bad("RouteScores", "null pointer");
  if (p.q_tokens <= 0 || p.chunks < 0 || p.width <= 0 || p.num_docs < 0) {
    return Bad("RouteScores", "bad sizes");
  }
  if (p.chunks > 0 && p.num_docs == 0) return Bad("RouteScores", "chunks without documents");
  return absl::OkStatus();
}

absl::Status Validate(const RouteTopKParams& p) {
  if (!p.q || !p.keys || !p.chunk_doc || !p.out_docs || !p.out_scores || !p.selected) {
    return Bad("RouteTopK", "null pointer");
  }
  if (p.q_tokens <= 0 || p.chunks < 0 || p.width <= 0 || p.num_docs < 0 || p.top_k <= 0) {
    return Bad("RouteTopK", "bad sizes");
  }
  if (p.chunks > 0 && p.num_docs == 0) return Bad("RouteTopK", "chunks without documents");
  if (p.num_docs > INT32_MAX) return Bad("RouteTopK", "more than 2^31 documents");
  return absl::OkStatus();
}

absl::Status Validate(const AttentionMergeParams& p) {
  if (!p.outs || !p.lses || !p.out) return Bad("AttentionMerge", "null pointer");
  if (p.parts <= 0 || p.rows <= 0 || p.head_dim <= 0) return Bad("AttentionMerge", "sizes must be positive");
  return absl::OkStatus();
}

absl::Status Validate(const ChunkPoolParams& p) {
  if (!p.x || !p.out) return Bad("ChunkPool", "null pointer");
  if (p.rows <= 0 || p.width <= 0 || p.pool <= 0) return Bad("ChunkPool", "sizes must be positive");
  if (p.l2_head_dim < 0 || (p.l2_head_dim > 0 && p.width % p.l2_head_dim != 0)) {
    return Bad("ChunkPool", absl::StrFormat("l2_head_dim %d does not divide width %d", p.l2_head_dim, p.width));
  }
  return absl::OkStatus();
}

absl::Status Validate(const QuantizeParams& p) {
  if (!p.x || !p.codes || !p.scales) return Bad("Quantize", "null pointer");
  if (p.n <= 0 || p.group <= 0 || p.n % p.group != 0) {
    return Bad("Quantize", absl::StrFormat("n %d must be a positive multiple of group %d", p.n, p.group));
  }
  return absl::OkStatus();
}

absl::Status Validate(const DequantizeParams& p) {
  if (!p.codes || !p.out) return Bad("Dequantize", "null pointer");
  if (p.n <= 0) return Bad("Dequantize", "n must be positive");
  if (p.type != CodeType::kBf16) {
    if (!p.scales) return Bad("Dequantize", "null scales");
    if (p.group <= 0 || p.n % p.group != 0) {
      return Bad("Dequantize", absl::StrFormat("n %d must be a positive multiple of group %d", p.n, p.group));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const SampleParams& p) {
  if (!p.logits || !p.token) return Bad("Sample", "null pointer");
  if (p.vocab <= 0 || p.vocab > INT32_MAX) return Bad("Sample", absl::StrFormat("bad vocabulary size %d", p.vocab));
  if (!(p.temperature >= 0.0) || !std::isfinite(p.temperature)) {
    return Bad("Sample", absl::StrFormat("temperature must be finite and >= 0, got %g", p.temperature));
  }
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) return Bad("Sample", absl::StrFormat("top_p %g outside (0, 1]", p.top_p));
  if (!(p.uniform >= 0.0 && p.uniform < 1.0)) return Bad("Sample", absl::StrFormat("uniform %g outside [0, 1)", p.uniform));
  return absl::OkStatus();
}

}  // namespace mneme::kernels
