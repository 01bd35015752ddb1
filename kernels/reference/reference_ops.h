// Host reference implementations of the ops that are plain loops (no BLAS): the CPU backend runs
// them, the CUDA parity tests compare against them, and engine/model/sampler.cc samples host
// logits with SampleReference. Each takes already-validated Params (kernels/validate.cc) whose
// pointers are host memory, and follows the contract written beside its Params in ops.h.
#ifndef MNEME_KERNELS_REFERENCE_REFERENCE_OPS_H_
#define MNEME_KERNELS_REFERENCE_REFERENCE_OPS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace mneme::kernels {

void ChunkPoolReference(const ChunkPoolParams& p);
void AttentionMergeReference(const AttentionMergeParams& p);
void QuantizeReference(const QuantizeParams& p);
void DequantizeReference(const DequantizeParams& p);

// Packed attention (AttentionParams::num_seqs > 0) as one plain causal attention per sequence:
// calls `one` with the pointers (and lse) offset to each sequence's rows and num_seqs = 0.
[[nodiscard]] absl::Status PackedAttention(const AttentionParams& p,
                                           const std::function<absl::Status(const AttentionParams&)>& one);

// SampleParams' rule over host logits, in double precision. InvalidArgument for NaN logits.
// `scratch` is the caller's, reused across calls (grown to 2 * vocab), so sampling token after
// token allocates nothing.
[[nodiscard]] absl::StatusOr<int32_t> SampleReference(const float* logits, int64_t vocab,
                                                      double temperature, double top_p,
                                                      double uniform, std::vector<double>* scratch);

}  // namespace mneme::kernels

#endif  // MNEME_KERNELS_REFERENCE_REFERENCE_OPS_H_
