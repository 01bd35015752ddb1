// Scalar conversions between fp32 and fp8 e4m3, OCP "FN" variant (OCP 8-bit Floating Point
// Specification v1.0; the format of CUDA's __nv_fp8_e4m3 and PyTorch's float8_e4m3fn):
//   bit 7 sign, bits 6..3 exponent (bias 7), bits 2..0 mantissa.
//   exponent 0: subnormal, value = ±2^-6 x m/8 (smallest 2^-9);
//   exponent 1..15: normal, value = ±2^(e-7) x (1 + m/8); largest finite 0x7E = 448;
//   0x7F and 0xFF are NaN; there are no infinities.
// Header-only and pure (no state, no rounding-mode dependence): every result is computed with
// integer operations or exact power-of-two scaling.
#ifndef MNEME_COMMON_FP8_H_
#define MNEME_COMMON_FP8_H_

#include <cstdint>
#include <cstring>

namespace mneme {

inline constexpr float kFp8E4m3Max = 448.0f;    // largest finite magnitude
inline constexpr uint8_t kFp8E4m3MaxCode = 0x7E;  // +448; OR 0x80 for -448

// True for the two NaN codes, 0x7F and 0xFF.
inline bool Fp8E4m3IsNan(uint8_t code) { return (code & 0x7Fu) == 0x7Fu; }

// Exact fp8 -> fp32 (every e4m3 value is representable in fp32). NaN codes give a quiet NaN
// carrying the sign.
inline float Fp8E4m3ToFloat(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exp = (code >> 3) & 0xFu;
  const uint32_t mant = code & 0x7u;
  uint32_t bits;
  if (exp == 0xFu && mant == 0x7u) {
    bits = sign | 0x7FC00000u;
  } else if (exp == 0) {
    float f = static_cast<float>(mant) * (1.0f / 512.0f);  // m x 2^-9, exact
    std::memcpy(&bits, &f, sizeof(bits));
    bits |= sign;
  } else {
    bits = sign | ((exp + 127 - 7) << 23) | (mant << 20);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// fp32 -> fp8, rounding to nearest with ties to even, saturating: any |x| > 448 (including
// ±infinity) becomes ±448, so a finite or infinite input never yields a NaN code. Values below
// half the smallest subnormal (2^-10) become ±0 (0x00 / 0x80, sign kept). A NaN input gives
// 0x7F (0xFF if its sign bit is set) -- the only way to get a NaN code.
inline uint8_t FloatToFp8E4m3(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return sign | 0x7Fu;          // NaN
  if (abs >= 0x43E00000u) return sign | kFp8E4m3MaxCode;  // |x| >= 448, infinity included
  const uint32_t f32_exp = abs >> 23;                   // biased by 127
  const uint32_t f32_mant = abs & 0x7FFFFFu;
  if (f32_exp >= 127 - 6) {
    // Normal e4m3 range [2^-6, 448): keep 3 of the 23 mantissa bits, rounding the dropped 20
    // to nearest even. A carry out of the mantissa bumps the exponent, which is the correctly
    // rounded result; a carry past 448 (into the NaN code) saturates.
    uint32_t v = ((f32_exp - (127 - 7)) << 23) | f32_mant;
    v += 0x7FFFFu + ((v >> 20) & 1u);
    v >>= 20;
    return sign | static_cast<uint8_t>(v > kFp8E4m3MaxCode ? kFp8E4m3MaxCode : v);
  }
  // Subnormal e4m3 range [0, 2^-6): code = round(|x| x 2^9) in 0..8 (8 is the smallest normal,
  // 0x08, so the carry is again correct). |x| = M x 2^(E-150) with M the 24-bit significand,
  // so |x| x 2^9 = M >> (141 - E), rounded to nearest even here in integers.
  const uint32_t m = f32_exp == 0 ? f32_mant : (f32_mant | 0x800000u);
  const uint32_t shift = 141 - (f32_exp == 0 ? 1 : f32_exp);  // >= 21
  if (shift > 24) return sign;  // M < 2^24, so |x| x 2^9 < 1/2: rounds to zero
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return sign | static_cast<uint8_t>(q);
}

}  // namespace mneme

#endif  // MNEME_COMMON_FP8_H_
