// Group quantisation to one byte per value, shared by the segment codec (memory/) and the
// Quantize/Dequantize ops (kernels/), so the store and every backend agree bit for bit.
//   int8: scale = absmax / 127, code = round-to-nearest-even(x / scale) clamped to [-127, 127]
//         (a zero group gets scale 0 and zero codes); value = scale * code.
//   fp8:  scale = absmax / 448, code = e4m3(x / scale) (common/fp8.h: RNE, saturating); a zero
//         group (or one whose scale underflows to 0) gets scale 1 and zero codes, so a scale is
//         always > 0; value = scale * fp8(code).
// Pure functions of their inputs: no rounding-mode or platform dependence (nearbyint under the
// default round-to-nearest mode, which mneme never changes).
#ifndef MNEME_COMMON_QUANTIZE_H_
#define MNEME_COMMON_QUANTIZE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/fp8.h"

namespace mneme {

enum class ByteCodec : uint8_t { kInt8, kFp8 };

// Quantises `dim` values of x into codes; returns the group's scale.
inline float QuantizeGroup(ByteCodec codec, const float* x, size_t dim, uint8_t* codes) {
  float amax = 0.0f;
  for (size_t i = 0; i < dim; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (codec == ByteCodec::kInt8) {
    const float scale = amax / 127.0f;
    for (size_t i = 0; i < dim; ++i) {
      const float q = scale > 0.0f ? std::nearbyint(x[i] / scale) : 0.0f;
      codes[i] = static_cast<uint8_t>(static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, q))));
    }
    return scale;
  }
  float scale = amax / kFp8E4m3Max;
  if (!(scale > 0.0f)) scale = 1.0f;
  for (size_t i = 0; i < dim; ++i) codes[i] = FloatToFp8E4m3(x[i] / scale);
  return scale;
}

// The value one code stands for.
inline float DequantizeCode(ByteCodec codec, uint8_t code, float scale) {
  return codec == ByteCodec::kInt8 ? scale * static_cast<float>(static_cast<int8_t>(code))
                                   : scale * Fp8E4m3ToFloat(code);
}

}  // namespace mneme

#endif  // MNEME_COMMON_QUANTIZE_H_
